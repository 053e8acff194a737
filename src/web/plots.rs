//! The main thread's half of the page: the plots of one replay, drawn into canvases with
//! plotters-canvas from the columns the worker transferred.

use super::{js_err, to_js};
use crate::plot::{self, Style};
use crate::report::Metrics;
use crate::series::{Envelopes, Pair, Series};
use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;
use std::ops::Range;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

/// The plots of one replay, drawn on the main thread from the columns the worker sent.
#[wasm_bindgen]
pub struct Plots {
    series: Series,
    /// The time plots' min/max pyramids, built once here: a cursor redraw reads O(width · log n) values.
    envelopes: Envelopes,
    metrics: Metrics,
    /// A second model's replay of the same windows, when two are compared.
    pair: Option<Pair>,
}

fn canvas_area(
    canvas: &HtmlCanvasElement,
    scale: f64,
) -> Result<DrawingArea<CanvasBackend, Shift>, JsError> {
    // plotters-canvas draws in canvas pixels and ignores devicePixelRatio: size the backing store to the
    // element's CSS size × the ratio, and the plots scale their fonts and strokes by the same ratio.
    let (cw, ch) = (canvas.client_width(), canvas.client_height());
    if cw > 0 && ch > 0 {
        let (w, h) = (
            (cw as f64 * scale).round() as u32,
            (ch as f64 * scale).round() as u32,
        );
        if canvas.width() != w || canvas.height() != h {
            canvas.set_width(w);
            canvas.set_height(h);
        }
    }
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or_else(|| JsError::new("the canvas has no 2-D context"))?;
    Ok(backend.into_drawing_area())
}

/// A time plot's drawing function ([`plot::timeline`], [`plot::confidence`]).
type TimePlot = fn(
    &DrawingArea<CanvasBackend, Shift>,
    &Series,
    &Envelopes,
    Option<&Pair>,
    Range<usize>,
    usize,
    Style,
) -> Result<(), plot::PlotError>;

impl Plots {
    fn draw_time(
        &self,
        draw: TimePlot,
        canvas: &HtmlCanvasElement,
        view: Range<usize>,
        cursor: usize,
        style: Style,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, style.scale)?;
        draw(
            &area,
            &self.series,
            &self.envelopes,
            self.pair.as_ref(),
            view,
            cursor,
            style,
        )
        .map_err(js_err)
    }
}

#[wasm_bindgen]
impl Plots {
    /// The plots of the columns a worker sent (the object [`Series::to_js`] made), checked.
    #[wasm_bindgen(constructor)]
    pub fn new(columns: JsValue) -> Result<Plots, JsError> {
        let series = Series::from_js(&columns).map_err(js_err)?;
        let metrics = Metrics::of(series.scored());
        Ok(Plots {
            envelopes: Envelopes::new(&series),
            series,
            metrics,
            pair: None,
        })
    }

    /// Show a second model's replay of the same recording beside this one (the columns a worker sent for
    /// slot `b`): its line on the timeline, the windows where the two disagree shaded, its confidence,
    /// its probabilities, and the difference panel. Refused, naming the first differing window, when the
    /// replays hold different windows.
    #[wasm_bindgen(js_name = compareWith)]
    pub fn compare_with(&mut self, columns: JsValue) -> Result<(), JsError> {
        let b = Series::from_js(&columns).map_err(js_err)?;
        self.pair = Some(Pair::new(&self.series, b).map_err(js_err)?);
        Ok(())
    }

    /// Back to one model.
    #[wasm_bindgen(js_name = clearComparison)]
    pub fn clear_comparison(&mut self) {
        self.pair = None;
    }

    /// Whether a second model is shown.
    #[wasm_bindgen(js_name = isComparing)]
    pub fn is_comparing(&self) -> bool {
        self.pair.is_some()
    }

    /// Model B's prediction of window `i` (`undefined` with one model).
    #[wasm_bindgen(js_name = frameB)]
    pub fn frame_b(&self, i: usize) -> Result<JsValue, JsError> {
        match &self.pair {
            Some(p) => to_js(&p.b.prediction(i)),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The next window after `i` where the two models' counts differ.
    #[wasm_bindgen(js_name = nextDisagreement)]
    pub fn next_disagreement(&self, i: usize) -> Option<usize> {
        self.pair.as_ref()?.next_disagreement(i)
    }

    /// The previous window before `i` where the two models' counts differ.
    #[wasm_bindgen(js_name = prevDisagreement)]
    pub fn prev_disagreement(&self, i: usize) -> Option<usize> {
        self.pair.as_ref()?.prev_disagreement(i)
    }

    /// Draw the difference panel (right windows of A minus B, accumulated) over windows `from..to`;
    /// blank with one model.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = drawDifference)]
    pub fn draw_difference(
        &self,
        canvas: &HtmlCanvasElement,
        from: usize,
        to: usize,
        cursor: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let Some(pair) = &self.pair else {
            return Ok(());
        };
        let style = Style { dark, scale };
        let area = canvas_area(canvas, style.scale)?;
        plot::difference(&area, &self.series, pair, from..to, cursor, style).map_err(js_err)
    }

    /// Windows.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// The window under `x` CSS pixels from a time plot's left edge, for a plot `width` CSS pixels wide
    /// showing windows `from..to`: the plots' own frame, so the page holds no pixel constants.
    #[wasm_bindgen(js_name = indexAt)]
    pub fn index_at(&self, x: f64, width: f64, from: usize, to: usize) -> usize {
        plot::TIME_FRAME.index_at(x, width, from..to)
    }

    /// How many windows a horizontal drag of `dx` CSS pixels spans on a time plot `width` wide showing
    /// `from..to` (for panning).
    #[wasm_bindgen(js_name = windowsAcross)]
    pub fn windows_across(&self, dx: f64, width: f64, from: usize, to: usize) -> f64 {
        plot::TIME_FRAME.windows_across(dx, width, from..to)
    }

    /// Whether there are no windows.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Window `i`'s prediction as a plain object (time, truth, prediction, confidence, line …).
    pub fn frame(&self, i: usize) -> Result<JsValue, JsError> {
        to_js(&self.series.prediction(i))
    }

    /// Seconds from the first window to window `i` (NaN when the recording has no times).
    pub fn elapsed(&self, i: usize) -> f64 {
        self.series.elapsed(i).unwrap_or(f64::NAN)
    }

    /// The next wrong window after `i`.
    #[wasm_bindgen(js_name = nextWrong)]
    pub fn next_wrong(&self, i: usize) -> Option<usize> {
        self.series.next_wrong(i)
    }

    /// The previous wrong window before `i`.
    #[wasm_bindgen(js_name = prevWrong)]
    pub fn prev_wrong(&self, i: usize) -> Option<usize> {
        self.series.prev_wrong(i)
    }

    /// Where a link's fragment (or an embed's `start` / `view` attributes, written the same way) points
    /// in this replay: `{cursor, view: [start, end) | null, warning}`, 0-based and clamped; `warning` says
    /// when the link was made with other files than `models` / `recording`, the ones open. A malformed
    /// fragment is an error that names the bad part.
    pub fn moment(
        &self,
        fragment: &str,
        models: Vec<String>,
        recording: Option<String>,
    ) -> Result<JsValue, JsError> {
        let m = crate::moment::Moment::parse(fragment).map_err(js_err)?;
        let at = m.resolve_in(&self.series);
        let mut warning = m.mismatch(&models, recording.as_deref());
        if !m.unknown.is_empty() {
            let unknown = format!(
                "unknown key(s) in the link, ignored: {}",
                m.unknown.join(", ")
            );
            warning = Some(warning.map_or(unknown.clone(), |w| format!("{w}; {unknown}")));
        }
        #[derive(serde::Serialize)]
        struct Located {
            cursor: Option<usize>,
            view: Option<(usize, usize)>,
            warning: Option<String>,
        }
        to_js(&Located {
            cursor: at.cursor,
            view: at.view,
            warning,
        })
    }

    /// Draw the timeline of windows `from..to` (zoom; an empty range draws all) with the cursor at window
    /// `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = drawTimeline)]
    pub fn draw_timeline(
        &self,
        canvas: &HtmlCanvasElement,
        from: usize,
        to: usize,
        cursor: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        self.draw_time(
            plot::timeline,
            canvas,
            from..to,
            cursor,
            Style { dark, scale },
        )
    }

    /// Draw confidence over windows `from..to` with the cursor at window `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = drawConfidence)]
    pub fn draw_confidence(
        &self,
        canvas: &HtmlCanvasElement,
        from: usize,
        to: usize,
        cursor: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        self.draw_time(
            plot::confidence,
            canvas,
            from..to,
            cursor,
            Style { dark, scale },
        )
    }

    /// Lanes of the per-node plot: one per named node when the windows come from two nodes or more (a raw
    /// ESP32 frame file), else 0 and the page hides that plot.
    #[wasm_bindgen(js_name = nodeLanes)]
    pub fn node_lanes(&self) -> usize {
        self.envelopes.nodes.len()
    }

    /// Draw the per-node plot over windows `from..to` (each node's predicted counts in its own lane) with
    /// the cursor at window `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = drawNodes)]
    pub fn draw_nodes(
        &self,
        canvas: &HtmlCanvasElement,
        from: usize,
        to: usize,
        cursor: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let style = Style { dark, scale };
        let area = canvas_area(canvas, style.scale)?;
        plot::nodes(
            &area,
            &self.series,
            &self.envelopes,
            from..to,
            cursor,
            style,
        )
        .map_err(js_err)
    }

    /// Draw window `i`'s class probabilities.
    #[wasm_bindgen(js_name = drawProbabilities)]
    pub fn draw_probabilities(
        &self,
        canvas: &HtmlCanvasElement,
        i: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        let i = i.min(self.series.len().saturating_sub(1));
        let style = Style { dark, scale };
        if self.series.is_empty() {
            return plot::probabilities(&area, &[0.0; crate::N_CLASSES], None, None, (0, 0), style)
                .map_err(js_err);
        }
        plot::probabilities(
            &area,
            self.series.probs_at(i),
            self.pair.as_ref().map(|p| p.b.probs_at(i)),
            self.series.truth_at(i),
            (self.series.p95_low[i], self.series.p95_high[i]),
            style,
        )
        .map_err(js_err)
    }

    /// Draw the confusion matrix.
    #[wasm_bindgen(js_name = drawConfusion)]
    pub fn draw_confusion(
        &self,
        canvas: &HtmlCanvasElement,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        plot::confusion(&area, &self.metrics.confusion, Style { dark, scale }).map_err(js_err)
    }

    /// Draw the reliability diagram.
    #[wasm_bindgen(js_name = drawReliability)]
    pub fn draw_reliability(
        &self,
        canvas: &HtmlCanvasElement,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        plot::reliability(&area, &self.metrics.reliability, Style { dark, scale }).map_err(js_err)
    }

    /// Per-frame CSV.
    pub fn csv(&self) -> String {
        self.series.to_csv()
    }
}

/// Draw one window (model order, as [`super::Replayed::window`] returns it) as a heatmap; `None` draws the
/// empty frame.
#[wasm_bindgen(js_name = drawHeatmap)]
pub fn draw_heatmap(
    canvas: &HtmlCanvasElement,
    window: Option<Vec<f32>>,
    dark: bool,
    scale: f64,
) -> Result<(), JsError> {
    let area = canvas_area(canvas, scale)?;
    plot::heatmap(&area, window.as_deref(), Style { dark, scale }).map_err(js_err)
}
