//! The plots, drawn with plotters onto any backend: the page hands in a canvas backend
//! (plotters-canvas), the tests a pixel buffer.
//!
//! Every time plot takes a cursor (the current window) and draws O(pixel width) elements however long the
//! recording: series are reduced to min/max per pixel column first ([`crate::series::min_max_columns`]),
//! read from the replay's [`Envelopes`] (built once), so a redraw reads O(width · log n) values.
//! Sizes are in device pixels; [`Style::scale`] (the screen's `devicePixelRatio`) scales fonts and strokes
//! so a HiDPI canvas is crisp rather than small.

use crate::report::metrics::ReliabilityBin;
use crate::series::{merge_runs, min_max_columns, Column, Envelopes, Pair, Pyramid, Series};
use crate::{N_CLASSES, N_FRAMES, N_SUBCARRIERS};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;

/// How to draw: light or dark, and the device-pixel scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    /// Dark background (the page follows `prefers-color-scheme`).
    pub dark: bool,
    /// Device pixels per CSS pixel (`devicePixelRatio`): fonts and strokes are multiplied by it.
    pub scale: f64,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            dark: false,
            scale: 1.0,
        }
    }
}

/// The colours of one theme.
#[derive(Clone, Copy, Debug)]
pub struct Palette {
    /// Background.
    pub bg: RGBColor,
    /// Text and axes.
    pub fg: RGBColor,
    /// Grid lines and secondary text.
    pub muted: RGBColor,
    /// Ground truth.
    pub truth: RGBColor,
    /// The model's prediction (model A's, with two models).
    pub pred: RGBColor,
    /// Model B's prediction: blue and orange stay apart in both themes and for the common colour-vision
    /// deficiencies (the Okabe–Ito pair).
    pub other: RGBColor,
    /// Wrong frames.
    pub wrong: RGBColor,
    /// Right frames.
    pub right: RGBColor,
    /// The cursor.
    pub cursor: RGBColor,
}

impl Style {
    /// The colours for this style (colour-blind-safe pairs: blue/orange for models A/B, red/teal for
    /// wrong/right; the cursor is reddish purple, apart from both).
    pub fn palette(&self) -> Palette {
        if self.dark {
            Palette {
                bg: RGBColor(24, 26, 31),
                fg: RGBColor(225, 228, 232),
                muted: RGBColor(110, 116, 126),
                truth: RGBColor(150, 156, 166),
                pred: RGBColor(97, 175, 239),
                other: RGBColor(230, 159, 0),
                wrong: RGBColor(240, 100, 90),
                right: RGBColor(80, 200, 170),
                cursor: RGBColor(220, 140, 200),
            }
        } else {
            Palette {
                bg: RGBColor(255, 255, 255),
                fg: RGBColor(30, 32, 36),
                muted: RGBColor(160, 165, 172),
                truth: RGBColor(120, 126, 136),
                pred: RGBColor(20, 100, 200),
                other: RGBColor(213, 120, 0),
                wrong: RGBColor(210, 50, 40),
                right: RGBColor(20, 150, 120),
                cursor: RGBColor(170, 60, 150),
            }
        }
    }

    fn px(&self, css: f64) -> u32 {
        (css * self.scale).round().max(1.0) as u32
    }

    fn font(&self, css: f64) -> f64 {
        css * self.scale
    }
}

/// A plot that could not be drawn (the backend failed: a lost canvas, a zero-sized area).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the {plot} plot: {why}")]
pub struct PlotError {
    plot: &'static str,
    why: String,
}

fn err<E: std::fmt::Debug>(plot: &'static str) -> impl Fn(E) -> PlotError {
    move |e| PlotError {
        plot,
        why: format!("{e:?}"),
    }
}

/// The time plots' frame in CSS pixels (scaled by the style's device-pixel ratio when drawn): the margin on every side,
/// the y labels' width on the left and the x labels' height below. Drawing and hit-testing
/// ([`TimeFrame::index_at`]) share it, so a click maps to the window drawn under it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeFrame {
    /// Margin on every side.
    pub margin: f64,
    /// The y labels' width.
    pub y_labels: f64,
    /// The x labels' height.
    pub x_labels: f64,
}

/// The frame of the timeline and confidence plots.
pub const TIME_FRAME: TimeFrame = TimeFrame {
    margin: 8.0,
    y_labels: 28.0,
    x_labels: 22.0,
};

impl TimeFrame {
    /// The plot area's left edge and width, for a plot `width` CSS pixels wide.
    pub fn x_span(&self, width: f64) -> (f64, f64) {
        let left = self.margin + self.y_labels;
        (left, (width - left - self.margin).max(1.0))
    }

    /// The window under `x` CSS pixels from a plot's left edge, when it is `width` wide and shows `view`
    /// (clamped to the view).
    pub fn index_at(&self, x: f64, width: f64, view: Range<usize>) -> usize {
        let (left, span) = self.x_span(width);
        let frac = ((x - left) / span).clamp(0.0, 1.0);
        let n = view.end.saturating_sub(view.start);
        (view.start + (frac * n as f64).floor() as usize).min(view.end.saturating_sub(1))
    }

    /// How many windows a horizontal move of `dx` CSS pixels spans, for panning.
    pub fn windows_across(&self, dx: f64, width: f64, view: Range<usize>) -> f64 {
        dx / self.x_span(width).1 * view.end.saturating_sub(view.start) as f64
    }
}

/// The windows a time plot shows: `view` if it is a non-empty range inside the series, else all of them.
pub fn clamp_view(series: &Series, view: Range<usize>) -> Range<usize> {
    if view.start < view.end && view.end <= series.len() {
        view
    } else {
        0..series.len()
    }
}

/// `m:ss` or `h:mm:ss` for an elapsed time in seconds.
pub fn format_elapsed(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn x_label(series: &Series, x: f64) -> String {
    let i = (x.max(0.0) as usize).min(series.len().saturating_sub(1));
    match series.elapsed(i) {
        Some(t) => format_elapsed(t),
        None => format!("#{i}"),
    }
}

/// The min/max envelope of pixel columns as outlines, one per run of touching columns (a column without a
/// value breaks the run): along the tops left to right, then back along the bottoms. Stroked, a run of
/// single-valued columns is a step line with its vertical connectors; filled, a range is a band. One
/// canvas path per run, not one shape per pixel column: a redraw's cost is its points, not its calls.
fn envelope<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart_area: &DrawingArea<DB, CT>,
    cols: &[Column],
    stroke: Option<ShapeStyle>,
    fill: Option<ShapeStyle>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for run in cols.chunk_by(|a, b| a.end == b.first) {
        let mut outline = Vec::with_capacity(run.len() * 4 + 1);
        for c in run {
            outline.push((c.first as f64, c.max as f64));
            outline.push((c.end as f64, c.max as f64));
        }
        for c in run.iter().rev() {
            outline.push((c.end as f64, c.min as f64));
            outline.push((c.first as f64, c.min as f64));
        }
        if let Some(fill) = fill.filter(|_| run.iter().any(|c| c.max > c.min)) {
            chart_area.draw(&Polygon::new(outline.clone(), fill))?;
        }
        if let Some(stroke) = stroke {
            outline.push(outline[0]);
            chart_area.draw(&PathElement::new(outline, stroke))?;
        }
    }
    Ok(())
}

/// The plot area of a time plot: windows across, the plot's own value up.
type TimeArea<DB> = DrawingArea<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What a time plot's y axis shows.
struct YAxis {
    range: Range<f64>,
    labels: usize,
    format: fn(&f64) -> String,
}

/// The frame every time plot shares: the background, the view's windows across (an empty or out-of-range
/// view shows everything) with elapsed-time labels, `y` up, then `draw(plot area, view, pixel width)`,
/// and the cursor on top when it is in view.
#[allow(clippy::too_many_arguments)]
fn time_plot<DB: DrawingBackend>(
    name: &'static str,
    area: &DrawingArea<DB, Shift>,
    series: &Series,
    view: Range<usize>,
    cursor: usize,
    style: Style,
    y: YAxis,
    draw: impl FnOnce(
        &TimeArea<DB>,
        Range<usize>,
        usize,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>,
) -> Result<(), PlotError> {
    let e = err(name);
    let pal = style.palette();
    area.fill(&pal.bg).map_err(&e)?;
    let view = clamp_view(series, view);
    let x_range = view.start as f64..(view.end.max(view.start + 1)) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(style.px(TIME_FRAME.margin))
        .x_label_area_size(style.px(TIME_FRAME.x_labels))
        .y_label_area_size(style.px(TIME_FRAME.y_labels))
        .build_cartesian_2d(x_range, y.range.clone())
        .map_err(&e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_labels(y.labels)
        .y_label_formatter(&y.format)
        .x_labels(8)
        .x_label_formatter(&|x| x_label(series, *x))
        .label_style(("sans-serif", style.font(11.0)).into_font().color(&pal.fg))
        .axis_style(pal.muted)
        .light_line_style(pal.bg)
        .bold_line_style(pal.muted.mix(0.25))
        .draw()
        .map_err(&e)?;
    let width = chart.plotting_area().dim_in_pixel().0 as usize;
    let plot = chart.plotting_area();
    draw(plot, view.clone(), width).map_err(&e)?;
    if view.contains(&cursor) {
        draw_cursor(plot, series, cursor, y.range.start, y.range.end, style).map_err(&e)?;
    }
    area.present().map_err(&e)
}

/// (a) The timeline: predicted count as a step line over the ground truth, wrong windows shaded (darker
/// where more of a pixel column is wrong), the 95 % interval as a band, and the cursor. `view` is the
/// range of windows shown (zoom); an empty or out-of-range view shows everything.
pub fn timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &Series,
    env: &Envelopes,
    pair: Option<&Pair>,
    view: Range<usize>,
    cursor: usize,
    style: Style,
) -> Result<(), PlotError> {
    let pal = style.palette();
    let y = YAxis {
        range: -0.5..(N_CLASSES as f64 - 0.5),
        labels: N_CLASSES,
        format: |y| format!("{}", y.round() as i64),
    };
    let top = y.range.clone();
    time_plot(
        "timeline",
        area,
        series,
        view,
        cursor,
        style,
        y,
        |plot, view, width| {
            // Shading: the share of each column that is wrong (one model) or where the two models'
            // counts differ (two), in 1/32 steps of shade so neighbouring columns of one shade are one
            // rectangle.
            let shade = match pair {
                None => pal.wrong,
                Some(_) => pal.fg,
            };
            let share = |r: Range<usize>| {
                let k = match pair {
                    None => env.wrong_in(r.clone()),
                    Some(p) => p.disagree_in(r.clone()),
                };
                let share = k as f32 / r.len() as f32;
                Some((0.0, (share * 32.0).ceil() / 32.0))
            };
            for c in merge_runs(min_max_columns(view.clone(), width, share)) {
                if c.max > 0.0 {
                    plot.draw(&Rectangle::new(
                        [(c.first as f64, top.start), (c.end as f64, top.end)],
                        shade.mix(0.06 + 0.2 * c.max as f64).filled(),
                    ))?;
                }
            }
            let lines: Vec<(&Pyramid, RGBAColor, f64)> = match pair {
                None => {
                    // The 95 % band: lowest low and highest high in each column.
                    let band = |r: Range<usize>| {
                        let (lo, _) = env.p95_low.min_max(r.clone())?;
                        let (_, hi) = env.p95_high.min_max(r)?;
                        Some((lo - 0.4, hi + 0.4))
                    };
                    let band = merge_runs(min_max_columns(view.clone(), width, band));
                    envelope(plot, &band, None, Some(pal.pred.mix(0.14).filled()))?;
                    vec![
                        (&env.truth, pal.truth.mix(0.9), 3.0),
                        (&env.count, pal.pred.to_rgba(), 1.5),
                    ]
                }
                // Two models: A wide and translucent under B thin and solid, so where they agree both
                // show (a thin orange line inside a blue band).
                Some(p) => vec![
                    (&env.truth, pal.truth.mix(0.6), 5.0),
                    (&env.count, pal.pred.mix(0.7), 4.0),
                    (&p.count, pal.other.to_rgba(), 1.5),
                ],
            };
            for (pyramid, colour, px) in lines {
                let cols = merge_runs(min_max_columns(view.clone(), width, |r| pyramid.min_max(r)));
                let stroke = colour.stroke_width(style.px(px));
                envelope(plot, &cols, Some(stroke), Some(colour.filled()))?;
            }
            Ok(())
        },
    )
}

/// (a′) Per node over time, for a recording framed from two nodes or more: one lane per node (top: the
/// lowest `node_id`), each the predicted count (0 at the lane's foot, 7 at its head) of that node's own
/// windows, held to its next window and broken where the node went quiet for longer than a window
/// ([`crate::series::NodeLane`]); `view` and the cursor as for [`timeline`]. With fewer than two named
/// nodes, the frame only.
pub fn nodes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &Series,
    env: &Envelopes,
    view: Range<usize>,
    cursor: usize,
    style: Style,
) -> Result<(), PlotError> {
    let pal = style.palette();
    let lanes = env.nodes.len().max(1) as f64;
    let y = YAxis {
        range: 0.0..lanes,
        labels: 0,
        format: |_| String::new(),
    };
    // A count's height in lane `k` (counted from the top): a margin of a tenth of the lane above and below.
    let at = move |k: usize, count: f32| lanes - 1.0 - k as f64 + 0.1 + 0.8 * count as f64 / 7.0;
    time_plot(
        "nodes",
        area,
        series,
        view,
        cursor,
        style,
        y,
        |plot, view, width| {
            let (x0, x1) = (view.start as f64, view.end.max(view.start + 1) as f64);
            let font = ("sans-serif", style.font(11.0)).into_font().color(&pal.fg);
            for (k, lane) in env.nodes.iter().enumerate() {
                if k > 0 {
                    let y = lanes - k as f64;
                    plot.draw(&PathElement::new(
                        vec![(x0, y), (x1, y)],
                        pal.muted.stroke_width(style.px(1.0)),
                    ))?;
                }
                let cols: Vec<Column> = merge_runs(min_max_columns(view.clone(), width, |r| {
                    lane.count.min_max(r)
                }))
                .into_iter()
                .map(|c| Column {
                    min: at(k, c.min) as f32,
                    max: at(k, c.max) as f32,
                    ..c
                })
                .collect();
                let colour = pal.pred.to_rgba();
                envelope(
                    plot,
                    &cols,
                    Some(colour.stroke_width(style.px(1.5))),
                    Some(colour.filled()),
                )?;
                plot.draw(&Text::new(
                    format!("node {} · {} windows", lane.node, lane.windows),
                    (x0, lanes - k as f64),
                    font.clone(),
                ))?;
            }
            if env.nodes_left_out > 0 {
                plot.draw(&Text::new(
                    format!("{} more node(s) not shown", env.nodes_left_out),
                    (x0, 0.3),
                    font.clone(),
                ))?;
            }
            Ok(())
        },
    )
}

/// The difference panel of two models: right windows of A minus right windows of B, accumulated over
/// the labelled windows (rising where A is right and B wrong, falling the other way), over a zero line.
pub fn difference<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &Series,
    pair: &Pair,
    view: Range<usize>,
    cursor: usize,
    style: Style,
) -> Result<(), PlotError> {
    let pal = style.palette();
    let (lo, hi) = pair.lead.min_max(0..series.len()).unwrap_or((0.0, 0.0));
    let (lo, hi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
    let pad = ((hi - lo) * 0.08).max(1.0);
    let y = YAxis {
        range: (lo - pad)..(hi + pad),
        labels: 5,
        format: |y| format!("{:+}", y.round() as i64),
    };
    time_plot(
        "difference",
        area,
        series,
        view,
        cursor,
        style,
        y,
        |plot, view, width| {
            let (x0, x1) = (view.start as f64, view.end.max(view.start + 1) as f64);
            plot.draw(&PathElement::new(
                vec![(x0, 0.0), (x1, 0.0)],
                pal.muted.stroke_width(style.px(1.0)),
            ))?;
            let cols = merge_runs(min_max_columns(view.clone(), width, |r| {
                pair.lead.min_max(r)
            }));
            let stroke = pal.fg.stroke_width(style.px(1.5));
            envelope(plot, &cols, Some(stroke), Some(pal.fg.filled()))
        },
    )
}

fn draw_cursor<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    plot: &DrawingArea<DB, CT>,
    series: &Series,
    cursor: usize,
    y0: f64,
    y1: f64,
    style: Style,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if series.is_empty() {
        return Ok(());
    }
    let x = cursor.min(series.len() - 1) as f64 + 0.5;
    plot.draw(&PathElement::new(
        vec![(x, y0), (x, y1)],
        style.palette().cursor.stroke_width(style.px(2.0)),
    ))
}

/// (b) Confidence over time: the range of confidences in each pixel column, right windows and wrong
/// windows drawn separately (unlabelled ones muted), and the cursor; `view` as for [`timeline`].
pub fn confidence<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &Series,
    env: &Envelopes,
    pair: Option<&Pair>,
    view: Range<usize>,
    cursor: usize,
    style: Style,
) -> Result<(), PlotError> {
    let pal = style.palette();
    let y = YAxis {
        range: 0.0..1.0,
        labels: 3,
        format: |y| format!("{y:.1}"),
    };
    time_plot(
        "confidence",
        area,
        series,
        view,
        cursor,
        style,
        y,
        |plot, view, width| {
            let mark = style.px(2.0);
            for (colour, kind) in [pal.muted, pal.right, pal.wrong]
                .into_iter()
                .zip(&env.confidence)
            {
                let cols = merge_runs(min_max_columns(view.clone(), width, |r| kind.min_max(r)));
                envelope(
                    plot,
                    &cols,
                    Some(colour.stroke_width(mark)),
                    Some(colour.filled()),
                )?;
            }
            // Model B's confidence, a thin line in its colour over A's dots.
            if let Some(p) = pair {
                let cols = merge_runs(min_max_columns(view.clone(), width, |r| {
                    p.confidence.min_max(r)
                }));
                let colour = pal.other.to_rgba();
                envelope(
                    plot,
                    &cols,
                    Some(colour.stroke_width(style.px(1.0))),
                    Some(colour.filled()),
                )?;
            }
            Ok(())
        },
    )
}

/// A perceptually ordered colour map (viridis, five stops, linear between them): `t` in 0–1.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// (c) One window as a 56 × 20 heatmap: frames across, subcarriers up, amplitude as colour (scaled to
/// the window's own range, which the title states).
pub fn heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    window: Option<&[f32]>,
    style: Style,
) -> Result<(), PlotError> {
    let e = err("heatmap");
    let pal = style.palette();
    area.fill(&pal.bg).map_err(&e)?;
    let (lo, hi) = window
        .map(|w| {
            w.iter()
                .filter(|v| v.is_finite())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                })
        })
        .filter(|(a, b)| a <= b)
        .unwrap_or((0.0, 0.0));
    let caption = match window {
        Some(_) => format!("amplitude {lo:.1}–{hi:.1}"),
        None => "no window".into(),
    };
    let mut chart = ChartBuilder::on(area)
        .margin(style.px(6.0))
        .caption(
            caption,
            ("sans-serif", style.font(11.0)).into_font().color(&pal.fg),
        )
        .x_label_area_size(style.px(20.0))
        .y_label_area_size(style.px(26.0))
        .build_cartesian_2d(0..N_FRAMES as i32, 0..N_SUBCARRIERS as i32)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(8)
        .label_style(("sans-serif", style.font(10.0)).into_font().color(&pal.fg))
        .axis_style(pal.muted)
        .draw()
        .map_err(&e)?;
    if let Some(w) = window {
        let span = (hi - lo).max(f32::EPSILON) as f64;
        let cells = (0..N_SUBCARRIERS).flat_map(|s| {
            (0..N_FRAMES).map(move |f| {
                let v = w.get(s * N_FRAMES + f).copied().unwrap_or(f32::NAN);
                Rectangle::new(
                    [(f as i32, s as i32), (f as i32 + 1, s as i32 + 1)],
                    viridis((v - lo) as f64 / span).filled(),
                )
            })
        });
        chart.draw_series(cells).map_err(&e)?;
    }
    area.present().map_err(&e)
}

/// (d) The current window's class probabilities: one bar per count, the prediction filled, the truth
/// outlined, the 95 % interval shaded behind.
pub fn probabilities<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    probs: &[f32],
    other: Option<&[f32]>,
    truth: Option<u8>,
    p95: (u8, u8),
    style: Style,
) -> Result<(), PlotError> {
    let e = err("probabilities");
    let pal = style.palette();
    area.fill(&pal.bg).map_err(&e)?;
    let mut chart = ChartBuilder::on(area)
        .margin(style.px(6.0))
        .x_label_area_size(style.px(20.0))
        .y_label_area_size(style.px(28.0))
        .build_cartesian_2d(-0.5..(N_CLASSES as f64 - 0.5), 0.0..1.0)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(N_CLASSES)
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_labels(3)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style(("sans-serif", style.font(10.0)).into_font().color(&pal.fg))
        .axis_style(pal.muted)
        .light_line_style(pal.bg)
        .bold_line_style(pal.muted.mix(0.25))
        .draw()
        .map_err(&e)?;
    let plot = chart.plotting_area();
    plot.draw(&Rectangle::new(
        [(p95.0 as f64 - 0.5, 0.0), (p95.1 as f64 + 0.5, 1.0)],
        pal.pred.mix(0.12).filled(),
    ))
    .map_err(&e)?;
    let best = |probs: &[f32]| {
        crate::replay::argmax(&{
            let mut a = [0.0; N_CLASSES];
            a.iter_mut().zip(probs).for_each(|(a, p)| *a = *p);
            a
        })
    };
    // One model: one bar per class, the argmax in the model's colour. Two: A's bar left of B's, each in
    // its model's colour, the argmax solid and the rest faint.
    let bars: Vec<(&[f32], RGBColor, f64, f64)> = match other {
        None => vec![(probs, pal.pred, -0.32, 0.32)],
        Some(b) => vec![(probs, pal.pred, -0.36, 0.0), (b, pal.other, 0.0, 0.36)],
    };
    for &(probs, colour, left, right) in &bars {
        let top = best(probs);
        for (c, &p) in probs.iter().enumerate().take(N_CLASSES) {
            let x = c as f64;
            let fill = match (c as u8 == top, other.is_some()) {
                (true, _) => colour.filled(),
                (false, false) => pal.muted.filled(),
                (false, true) => colour.mix(0.4).filled(),
            };
            plot.draw(&Rectangle::new(
                [(x + left, 0.0), (x + right, p as f64)],
                fill,
            ))
            .map_err(&e)?;
        }
    }
    if let Some(t) = truth {
        let x = t as f64;
        plot.draw(&Rectangle::new(
            [(x - 0.42, 0.0), (x + 0.42, 1.0)],
            pal.truth.stroke_width(style.px(2.0)),
        ))
        .map_err(&e)?;
    }
    area.present().map_err(&e)
}

/// (e1) The confusion matrix: truth down, prediction across, each row shaded by its share, counts written
/// where they fit.
pub fn confusion<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    matrix: &[[u64; N_CLASSES]; N_CLASSES],
    style: Style,
) -> Result<(), PlotError> {
    let e = err("confusion");
    let pal = style.palette();
    area.fill(&pal.bg).map_err(&e)?;
    let k = N_CLASSES as i32;
    let mut chart = ChartBuilder::on(area)
        .margin(style.px(6.0))
        .x_label_area_size(style.px(34.0))
        .y_label_area_size(style.px(36.0))
        .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())
        .map_err(&e)?;
    let centre = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(c) => format!("{c}"),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(N_CLASSES)
        .y_labels(N_CLASSES)
        .x_desc("predicted")
        .y_desc("truth")
        .x_label_formatter(&centre)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(c) => format!("{}", k - 1 - c),
            _ => String::new(),
        })
        .label_style(("sans-serif", style.font(10.0)).into_font().color(&pal.fg))
        .axis_desc_style(("sans-serif", style.font(10.0)).into_font().color(&pal.fg))
        .axis_style(pal.muted)
        .draw()
        .map_err(&e)?;
    let plot = chart.plotting_area();
    let (w, _) = plot.dim_in_pixel();
    let show_counts = w as f64 / N_CLASSES as f64 >= 24.0 * style.scale;
    let at = |x: i32, y: i32| (SegmentValue::Exact(x), SegmentValue::Exact(y));
    for (t, row) in matrix.iter().enumerate() {
        let total: u64 = row.iter().sum();
        for (p, &n) in row.iter().enumerate() {
            let share = if total > 0 {
                n as f64 / total as f64
            } else {
                0.0
            };
            let y = k - 1 - t as i32;
            let colour = if t == p { pal.right } else { pal.wrong };
            plot.draw(&Rectangle::new(
                [at(p as i32, y), at(p as i32 + 1, y + 1)],
                colour.mix(0.06 + 0.85 * share).filled(),
            ))
            .map_err(&e)?;
            if show_counts && n > 0 {
                plot.draw(&Text::new(
                    n.to_string(),
                    at(p as i32, y + 1),
                    ("sans-serif", style.font(9.0)).into_font().color(&pal.fg),
                ))
                .map_err(&e)?;
            }
        }
    }
    area.present().map_err(&e)
}

/// (e2) The reliability diagram: accuracy against mean confidence per bin, the diagonal a calibrated
/// model would follow, and each bin's share of the windows as its bar's width.
pub fn reliability<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    bins: &[ReliabilityBin],
    style: Style,
) -> Result<(), PlotError> {
    let e = err("reliability");
    let pal = style.palette();
    area.fill(&pal.bg).map_err(&e)?;
    let mut chart = ChartBuilder::on(area)
        .margin(style.px(6.0))
        .x_label_area_size(style.px(34.0))
        .y_label_area_size(style.px(40.0))
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_desc("confidence")
        .y_desc("accuracy")
        .x_label_formatter(&|x| format!("{x:.1}"))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .label_style(("sans-serif", style.font(10.0)).into_font().color(&pal.fg))
        .axis_desc_style(("sans-serif", style.font(10.0)).into_font().color(&pal.fg))
        .axis_style(pal.muted)
        .light_line_style(pal.bg)
        .bold_line_style(pal.muted.mix(0.25))
        .draw()
        .map_err(&e)?;
    let plot = chart.plotting_area();
    plot.draw(&PathElement::new(
        vec![(0.0, 0.0), (1.0, 1.0)],
        pal.muted.stroke_width(style.px(1.0)),
    ))
    .map_err(&e)?;
    let total: u64 = bins.iter().map(|b| b.count).sum();
    for b in bins {
        let Some(acc) = b.accuracy else { continue };
        let share = b.count as f64 / total.max(1) as f64;
        let half = (b.hi - b.lo) / 2.0 * (0.25 + 0.75 * share.sqrt());
        let mid = (b.lo + b.hi) / 2.0;
        plot.draw(&Rectangle::new(
            [(mid - half, 0.0), (mid + half, acc)],
            pal.pred.mix(0.55).filled(),
        ))
        .map_err(&e)?;
        if let Some(c) = b.mean_confidence {
            plot.draw(&Circle::new((c, acc), style.px(3.0), pal.fg.filled()))
                .map_err(&e)?;
        }
    }
    area.present().map_err(&e)
}

#[cfg(test)]
mod frame_tests {
    use super::TIME_FRAME;

    #[test]
    fn a_click_maps_to_the_window_drawn_under_it() {
        // 1044 CSS px wide: the plot area is 36..1036, 1000 px for 100 windows, 10 px each.
        assert_eq!(TIME_FRAME.x_span(1044.0), (36.0, 1000.0));
        assert_eq!(TIME_FRAME.index_at(36.0, 1044.0, 0..100), 0);
        assert_eq!(TIME_FRAME.index_at(45.9, 1044.0, 0..100), 0);
        assert_eq!(TIME_FRAME.index_at(46.0, 1044.0, 0..100), 1);
        assert_eq!(TIME_FRAME.index_at(5000.0, 1044.0, 0..100), 99);
        assert_eq!(TIME_FRAME.index_at(0.0, 1044.0, 200..300), 200);
        assert_eq!(TIME_FRAME.windows_across(-100.0, 1044.0, 0..100), -10.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::FramePrediction;
    use plotters_backend::{BackendColor, BackendCoord, DrawingErrorKind};

    /// A pixel buffer that draws everything but text (plotters' native font fallback cannot draw
    /// glyphs; the browser suite checks real text on a real canvas).
    struct Pixels<'a> {
        w: u32,
        h: u32,
        rgb: &'a mut [[u8; 3]],
    }

    /// The finished picture.
    struct Image {
        w: u32,
        h: u32,
        rgb: Vec<[u8; 3]>,
    }

    impl DrawingBackend for Pixels<'_> {
        type ErrorType = std::convert::Infallible;
        fn get_size(&self) -> (u32, u32) {
            (self.w, self.h)
        }
        fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            Ok(())
        }
        fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            Ok(())
        }
        fn draw_pixel(
            &mut self,
            (x, y): BackendCoord,
            c: BackendColor,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            if (0..self.w as i32).contains(&x) && (0..self.h as i32).contains(&y) {
                let px = &mut self.rgb[(y as u32 * self.w + x as u32) as usize];
                let a = c.alpha;
                for (k, v) in px.iter_mut().enumerate() {
                    *v = (c.rgb_k(k) as f64 * a + *v as f64 * (1.0 - a)).round() as u8;
                }
            }
            Ok(())
        }
        fn draw_text<S: plotters_backend::BackendTextStyle>(
            &mut self,
            _: &str,
            _: &S,
            _: BackendCoord,
        ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
            Ok(())
        }
    }

    trait Rgb {
        fn rgb_k(&self, k: usize) -> u8;
    }
    impl Rgb for BackendColor {
        fn rgb_k(&self, k: usize) -> u8 {
            [self.rgb.0, self.rgb.1, self.rgb.2][k]
        }
    }

    /// Draw into a fresh `w × h` picture.
    fn draw(w: u32, h: u32, f: impl FnOnce(&DrawingArea<Pixels<'_>, Shift>)) -> Image {
        let mut rgb = vec![[0; 3]; (w * h) as usize];
        f(&Pixels {
            w,
            h,
            rgb: &mut rgb,
        }
        .into_drawing_area());
        Image { w, h, rgb }
    }

    fn series(n: usize) -> Series {
        let preds: Vec<FramePrediction> = (0..n)
            .map(|i| {
                let truth = (i / 40 % 8) as u8;
                let count = if i % 7 == 0 { (truth + 1) % 8 } else { truth };
                let mut probs = [0.02; N_CLASSES];
                probs[count as usize] = 0.86;
                FramePrediction {
                    line: i as u64 + 1,
                    ts_start: Some(1.7e9 + i as f64 * 0.8),
                    ts_end: None,
                    truth: Some(truth),
                    count,
                    correct: Some(truth == count),
                    confidence: (i % 10) as f32 / 10.0,
                    count_p95_low: count.saturating_sub(1),
                    count_p95_high: (count + 1).min(7),
                    probs,
                    count_logits: probs,
                    conf_logit: 0.0,
                    ..FramePrediction::default()
                }
            })
            .collect();
        Series::from_predictions(&preds)
    }

    fn count_colour(p: &Image, c: RGBColor, x: std::ops::Range<u32>) -> usize {
        (0..p.h)
            .flat_map(|y| x.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| p.rgb[(y * p.w + x) as usize] == [c.0, c.1, c.2])
            .count()
    }

    #[test]
    fn the_timeline_draws_the_prediction_and_its_cursor_where_it_is() {
        let s = series(100_000);
        let e = Envelopes::new(&s);
        let style = Style::default();
        let pal = style.palette();
        let mut at = Vec::new();
        for cursor in [1_000, 90_000] {
            let px = draw(600, 200, |area| {
                timeline(area, &s, &e, None, 0..0, cursor, style).unwrap()
            });
            assert!(
                count_colour(&px, pal.pred, 0..600) > 500,
                "prediction drawn"
            );
            let cols: Vec<u32> = (0..600)
                .filter(|&x| count_colour(&px, pal.cursor, x..x + 1) > 50)
                .collect();
            assert!(!cols.is_empty(), "cursor drawn");
            at.push(cols[0]);
        }
        assert!(at[1] > at[0] + 300, "the cursor moved right: {at:?}");

        // Zoomed to 2,000 windows around window 90,000: the cursor sits mid-plot; outside the view it is
        // not drawn.
        let zoomed = draw(600, 200, |area| {
            timeline(area, &s, &e, None, 89_000..91_000, 90_000, style).unwrap()
        });
        let cols: Vec<u32> = (0..600)
            .filter(|&x| count_colour(&zoomed, pal.cursor, x..x + 1) > 50)
            .collect();
        assert!(
            cols.first().is_some_and(|&x| (260..360).contains(&x)),
            "{cols:?}"
        );
        let outside = draw(600, 200, |area| {
            timeline(area, &s, &e, None, 89_000..91_000, 1_000, style).unwrap()
        });
        assert_eq!(count_colour(&outside, pal.cursor, 0..600), 0);
    }

    #[test]
    fn the_node_plot_gives_each_node_its_own_lane() {
        // Node 1 alone for 500 windows (count 1), then nodes 1 and 2 alternating (node 2 counts 6).
        let preds: Vec<FramePrediction> = (0..1000)
            .map(|i| {
                let two = i >= 500 && i % 2 == 1;
                FramePrediction {
                    line: i + 1,
                    count: if two { 6 } else { 1 },
                    node: Some(if two { 2 } else { 1 }),
                    ..FramePrediction::default()
                }
            })
            .collect();
        let s = Series::from_predictions(&preds);
        let e = Envelopes::new(&s);
        assert_eq!(e.nodes.len(), 2);
        let style = Style::default();
        let pal = style.palette();
        let px = draw(600, 200, |area| {
            nodes(area, &s, &e, 0..0, 0, style).unwrap()
        });
        // The plot area spans x 36..592 and y 8..170: lane 1 (node 1) on top, lane 2 below.
        let in_rows = |x: Range<u32>, y: Range<u32>| {
            y.flat_map(|y| x.clone().map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    px.rgb[(y * px.w + x) as usize] == [pal.pred.0, pal.pred.1, pal.pred.2]
                })
                .count()
        };
        let (top, bottom) = (10..88, 90..168);
        assert!(
            in_rows(40..300, top.clone()) > 200,
            "node 1 before window 500"
        );
        assert!(in_rows(330..590, top.clone()) > 200, "node 1 after");
        assert_eq!(
            in_rows(40..300, bottom.clone()),
            0,
            "node 2 silent before window 500"
        );
        assert!(in_rows(330..590, bottom.clone()) > 200, "node 2 after");
        // Node 2 counts 6: high in its lane; node 1 counts 1: low in its.
        assert!(in_rows(330..590, 90..110) > in_rows(330..590, 140..168));
        // One node: no lanes, the frame alone.
        let one = Series::from_predictions(&preds[..400]);
        let e1 = Envelopes::new(&one);
        assert!(e1.nodes.is_empty());
        let px1 = draw(600, 200, |area| {
            nodes(area, &one, &e1, 0..0, 0, style).unwrap()
        });
        assert_eq!(count_colour(&px1, pal.pred, 0..600), 0);
    }

    #[test]
    fn every_plot_draws_something_in_both_themes() {
        let s = series(500);
        let e = Envelopes::new(&s);
        let preds = s.predictions();
        let m = crate::report::Metrics::compute(&preds);
        let window: Vec<f32> = (0..crate::WINDOW_LEN).map(|i| i as f32).collect();
        for dark in [false, true] {
            let style = Style { dark, scale: 2.0 };
            let bg = style.palette().bg;
            let px = draw(400, 300, |area| {
                let parts = area.split_evenly((2, 3));
                confidence(&parts[0], &s, &e, None, 0..s.len(), 10, style).unwrap();
                heatmap(&parts[1], Some(&window), style).unwrap();
                probabilities(&parts[2], s.probs_at(3), None, s.truth_at(3), (2, 4), style)
                    .unwrap();
                confusion(&parts[3], &m.confusion, style).unwrap();
                reliability(&parts[4], &m.reliability, style).unwrap();
                heatmap(&parts[5], None, style).unwrap();
            });
            // Each of the first five panels has plenty of non-background pixels.
            for (k, (x0, y0)) in [(0, 0), (133, 0), (266, 0), (0, 150), (133, 150)]
                .iter()
                .enumerate()
            {
                let busy = (*y0..y0 + 150)
                    .flat_map(|y| (*x0..x0 + 133).map(move |x| (x, y)))
                    .filter(|&(x, y)| px.rgb[(y * 400 + x) as usize] != [bg.0, bg.1, bg.2])
                    .count();
                assert!(
                    busy > 800,
                    "panel {k} (dark {dark}) drew only {busy} pixels"
                );
            }
        }
    }

    #[test]
    fn elapsed_times_read_like_a_clock() {
        assert_eq!(format_elapsed(0.0), "0:00");
        assert_eq!(format_elapsed(125.4), "2:05");
        assert_eq!(format_elapsed(86_399.0), "23:59:59");
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
    }

    /// Two models: B's line, the disagreement shading, the difference panel and both models' bars.
    #[test]
    fn two_models_draw_both_and_their_difference() {
        let a = series(2_000);
        let e = Envelopes::new(&a);
        // B: wrong on every 5th window instead of every 7th.
        let b_preds: Vec<FramePrediction> = a
            .predictions()
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                let t = p.truth.unwrap_or(0);
                p.count = if i % 5 == 0 { (t + 2) % 8 } else { t };
                p.correct = Some(p.count == t);
                p
            })
            .collect();
        let pair = Pair::new(&a, Series::from_predictions(&b_preds)).unwrap();
        for dark in [false, true] {
            let style = Style { dark, scale: 1.0 };
            let pal = style.palette();
            let px = draw(600, 200, |area| {
                timeline(area, &a, &e, Some(&pair), 0..0, 10, style).unwrap()
            });
            assert!(count_colour(&px, pal.other, 0..600) > 300, "B drawn");
            let px = draw(600, 200, |area| {
                difference(area, &a, &pair, 0..0, 10, style).unwrap()
            });
            assert!(count_colour(&px, pal.fg, 0..600) > 300, "the lead drawn");
            let px = draw(300, 200, |area| {
                probabilities(
                    area,
                    a.probs_at(3),
                    Some(b_preds[3].probs.as_slice()),
                    a.truth_at(3),
                    (2, 4),
                    style,
                )
                .unwrap()
            });
            assert!(
                count_colour(&px, pal.pred, 0..300) > 100
                    && count_colour(&px, pal.other, 0..300) > 100
            );
        }
    }

    /// Models A and B keep apart in both themes, also as people with the common colour-vision deficiencies
    /// see them (Machado, Oliveira & Fernandes 2009, severity 1, applied in linear RGB): ΔE (CIELAB 1976)
    /// between the two stays above 20 (at 2.3 a difference is just noticeable).
    #[test]
    fn the_two_models_colours_stay_apart_for_colour_vision_deficiencies() {
        const SIMULATIONS: [(&str, [[f64; 3]; 3]); 4] = [
            (
                "normal",
                [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            ),
            (
                "protanopia",
                [
                    [0.152286, 1.052583, -0.204868],
                    [0.114503, 0.786281, 0.099216],
                    [-0.003882, -0.048116, 1.051998],
                ],
            ),
            (
                "deuteranopia",
                [
                    [0.367322, 0.860646, -0.227968],
                    [0.280085, 0.672501, 0.047413],
                    [-0.011820, 0.042940, 0.968881],
                ],
            ),
            (
                "tritanopia",
                [
                    [1.255528, -0.076749, -0.178779],
                    [-0.078411, 0.930809, 0.147602],
                    [0.004733, 0.691367, 0.303900],
                ],
            ),
        ];
        fn lab(c: RGBColor, m: &[[f64; 3]; 3]) -> [f64; 3] {
            let lin = |v: u8| {
                let v = v as f64 / 255.0;
                if v <= 0.04045 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            let rgb = [lin(c.0), lin(c.1), lin(c.2)];
            let sim: Vec<f64> = m
                .iter()
                .map(|row| (row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2]).clamp(0.0, 1.0))
                .collect();
            let xyz = [
                0.4124 * sim[0] + 0.3576 * sim[1] + 0.1805 * sim[2],
                0.2126 * sim[0] + 0.7152 * sim[1] + 0.0722 * sim[2],
                0.0193 * sim[0] + 0.1192 * sim[1] + 0.9505 * sim[2],
            ];
            let f = |t: f64| {
                if t > 0.008856 {
                    t.cbrt()
                } else {
                    7.787 * t + 16.0 / 116.0
                }
            };
            let (fx, fy, fz) = (f(xyz[0] / 0.95047), f(xyz[1]), f(xyz[2] / 1.08883));
            [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
        }
        for dark in [false, true] {
            let pal = Style { dark, scale: 1.0 }.palette();
            for (name, m) in &SIMULATIONS {
                let (a, b, bg) = (lab(pal.pred, m), lab(pal.other, m), lab(pal.bg, m));
                let de = |x: [f64; 3], y: [f64; 3]| {
                    ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2)).sqrt()
                };
                assert!(
                    de(a, b) > 20.0,
                    "{name}, dark {dark}: A and B ΔE {:.1}",
                    de(a, b)
                );
                assert!(
                    de(a, bg) > 20.0 && de(b, bg) > 20.0,
                    "{name}, dark {dark}: a model's colour on the background"
                );
            }
        }
    }
}
