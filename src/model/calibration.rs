//! Calibration that travels with a model: the confidence temperature and per-subcarrier normalisation.
//!
//! RuView z-scores each of the 56 input rows during training but never saved the statistics, and keeps its
//! temperature in a one-number sidecar file. countscope reads both from the ONNX file itself when present:
//!
//! | `metadata_props` key       | value                                                    |
//! |----------------------------|----------------------------------------------------------|
//! | `countscope.temperature`   | T > 0 as a decimal number; confidence = σ(conf_logit / T) |
//! | `countscope.norm_mean`     | JSON array of 56 numbers: per-subcarrier mean             |
//! | `countscope.norm_std`      | JSON array of 56 numbers > 0: per-subcarrier std          |
//!
//! The input fed to the model is `(x[s][f] − mean[s]) / std[s]`. Without these keys (and no sidecar or
//! explicit temperature), T = 1 and the input is fed raw; the report always says which applied.

use super::ModelError;
use crate::N_SUBCARRIERS;
use serde::Serialize;

/// `metadata_props` key of the temperature.
pub const KEY_TEMPERATURE: &str = "countscope.temperature";
/// `metadata_props` key of the per-subcarrier means.
pub const KEY_NORM_MEAN: &str = "countscope.norm_mean";
/// `metadata_props` key of the per-subcarrier standard deviations.
pub const KEY_NORM_STD: &str = "countscope.norm_std";

/// Where a calibration value came from, so the user can see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Source {
    /// Nothing supplied: the neutral default (T = 1, no normalisation).
    Default,
    /// The model's own `metadata_props`.
    ModelMetadata,
    /// A sidecar file (its name).
    Sidecar(String),
    /// Given explicitly by the user (a flag, a page field).
    Explicit,
    /// Computed from the replayed recording itself (`--normalise recording`): each subcarrier z-scored with
    /// the recording's own mean and standard deviation, as RuView's training did with its training set's.
    Recording,
}

/// Per-subcarrier z-scoring applied to every window before inference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Normalisation {
    /// Mean of each of the 56 input rows.
    pub mean: Vec<f32>,
    /// Standard deviation of each row (all > 0).
    pub std: Vec<f32>,
}

/// The calibration in force for a loaded model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// Confidence temperature T: confidence = σ(conf_logit / T).
    pub temperature: f32,
    /// Where T came from.
    pub temperature_source: Source,
    /// Input normalisation, if any.
    pub normalisation: Option<Normalisation>,
    /// Where the normalisation came from.
    pub normalisation_source: Source,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            temperature_source: Source::Default,
            normalisation: None,
            normalisation_source: Source::Default,
        }
    }
}

impl Calibration {
    /// One sentence for reports: which temperature and normalisation were applied and why.
    pub fn describe(&self) -> String {
        let src = |s: &Source| match s {
            Source::Default => "none supplied".to_string(),
            Source::ModelMetadata => "from the model's metadata".to_string(),
            Source::Sidecar(name) => format!("from sidecar {name}"),
            Source::Explicit => "given explicitly".to_string(),
            Source::Recording => {
                "the recording's own statistics, --normalise recording".to_string()
            }
        };
        let t = if self.temperature_source == Source::Default {
            "temperature T = 1 (none supplied)".to_string()
        } else {
            format!(
                "temperature T = {} ({})",
                self.temperature,
                src(&self.temperature_source)
            )
        };
        let n = match &self.normalisation {
            None => "no input normalisation (raw amplitudes fed)".to_string(),
            Some(_) => format!(
                "per-subcarrier z-score normalisation ({})",
                src(&self.normalisation_source)
            ),
        };
        format!("{t}; {n}")
    }

    /// Normalise windows in model order in place.
    pub fn normalise(&self, windows: &mut [f32]) {
        if let Some(n) = &self.normalisation {
            for row in windows.chunks_exact_mut(crate::N_FRAMES).enumerate() {
                let s = row.0 % N_SUBCARRIERS;
                let (m, inv) = (n.mean[s], 1.0 / n.std[s]);
                row.1.iter_mut().for_each(|x| *x = (*x - m) * inv);
            }
        }
    }

    /// Calibrated confidence for a confidence logit.
    pub fn confidence(&self, conf_logit: f32) -> f32 {
        1.0 / (1.0 + (-(conf_logit / self.temperature)).exp())
    }
}

/// The sidecar files a model may have beside it, in the order they are looked for: `<stem>.temperature`
/// (RuView's `count_v1.temperature` beside `count_v1.onnx` or `count_v1.safetensors`), then
/// `<file>.temperature` (`count_v1.onnx.temperature`). The CLI looks in the model's folder, the page
/// beside the model's URL: both ask here, so they look for the same names in the same order.
pub fn sidecar_names(model_file: &str) -> [String; 2] {
    [
        format!("{}.temperature", super::stem(model_file)),
        format!("{model_file}.temperature"),
    ]
}

/// Where the temperature may come from besides the model: what the shell found or was told.
#[derive(Clone, Debug, Default)]
pub struct TemperatureSources<'a> {
    /// Given explicitly (`--temperature`, a number or a file named by the user): wins over everything.
    pub explicit: Option<(f32, Source)>,
    /// A sidecar found beside the model or dropped with it: its name and text. Used only when the model
    /// carries no temperature of its own, and parsed only then.
    pub sidecar: Option<(&'a str, &'a str)>,
}

impl Calibration {
    /// Whether a sidecar would apply: only to a model that carries no temperature of its own. The page
    /// asks this before looking for one, so it never fetches a file the precedence would ignore.
    pub fn takes_sidecar(&self) -> bool {
        self.temperature_source != Source::ModelMetadata
    }

    /// The one precedence every shell uses: an explicit temperature, else the model's own metadata, else a
    /// sidecar, else T = 1.
    pub fn with_temperature(mut self, from: &TemperatureSources) -> Result<Self, ModelError> {
        if let Some((t, source)) = &from.explicit {
            self.temperature = *t;
            self.temperature_source = source.clone();
        } else if self.takes_sidecar() {
            if let Some((name, text)) = from.sidecar {
                self.temperature = parse_temperature(text)
                    .map_err(|e| ModelError::Calibration(format!("{name}: {e}")))?;
                self.temperature_source = Source::Sidecar(name.to_string());
            }
        }
        Ok(self)
    }
}

/// Parse a temperature: one positive finite number, surrounding whitespace allowed (RuView's sidecar form).
pub fn parse_temperature(text: &str) -> Result<f32, ModelError> {
    let t: f32 = text.trim().parse().map_err(|_| {
        ModelError::Calibration(format!("temperature {:?} is not a number", text.trim()))
    })?;
    if !(t.is_finite() && t > 0.0) {
        return Err(ModelError::Calibration(format!(
            "temperature {t} must be a positive finite number"
        )));
    }
    Ok(t)
}

fn parse_vector(key: &str, text: &str) -> Result<Vec<f32>, ModelError> {
    let v: Vec<f64> = serde_json::from_str(text).map_err(|e| {
        ModelError::Calibration(format!("{key} is not a JSON array of numbers: {e}"))
    })?;
    if v.len() != N_SUBCARRIERS {
        return Err(ModelError::Calibration(format!(
            "{key} has {} numbers; expected {N_SUBCARRIERS}",
            v.len()
        )));
    }
    let v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(ModelError::Calibration(format!("{key}[{i}] is not finite")));
    }
    Ok(v)
}

/// Read the calibration from `metadata_props` entries (`(key, value)` pairs).
pub fn from_metadata<'a>(
    props: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Calibration, ModelError> {
    let mut c = Calibration::default();
    let (mut mean, mut std) = (None, None);
    for (k, v) in props {
        match k {
            KEY_TEMPERATURE => {
                c.temperature = parse_temperature(v)?;
                c.temperature_source = Source::ModelMetadata;
            }
            KEY_NORM_MEAN => mean = Some(parse_vector(k, v)?),
            KEY_NORM_STD => std = Some(parse_vector(k, v)?),
            _ => {}
        }
    }
    match (mean, std) {
        (Some(mean), Some(std)) => {
            if let Some(i) = std.iter().position(|&s| s <= 0.0) {
                return Err(ModelError::Calibration(format!(
                    "{KEY_NORM_STD}[{i}] = {} must be > 0",
                    std[i]
                )));
            }
            c.normalisation = Some(Normalisation { mean, std });
            c.normalisation_source = Source::ModelMetadata;
        }
        (None, None) => {}
        _ => {
            return Err(ModelError::Calibration(format!(
                "{KEY_NORM_MEAN} and {KEY_NORM_STD} must be given together"
            )))
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_text_parses_like_ruviews() {
        assert!((parse_temperature("0.9261822700500488\n").unwrap() - 0.926_182_27).abs() < 1e-7);
        assert!(parse_temperature("-1").is_err());
        assert!(parse_temperature("abc").is_err());
        assert!(parse_temperature("inf").is_err());
    }

    #[test]
    fn sidecars_are_named_as_ruview_names_them_and_rank_below_metadata() {
        assert_eq!(
            sidecar_names("count_v1.onnx"),
            ["count_v1.temperature", "count_v1.onnx.temperature"]
        );
        assert_eq!(
            sidecar_names("count_v1.safetensors"),
            ["count_v1.temperature", "count_v1.safetensors.temperature"]
        );
        assert_eq!(
            sidecar_names("model"),
            ["model.temperature", "model.temperature"]
        );
        assert_eq!(
            super::super::weights_name("count_v1.onnx"),
            "count_v1.safetensors"
        );
        let side = TemperatureSources {
            explicit: None,
            sidecar: Some(("m.temperature", "0.5\n")),
        };
        let none = Calibration::default().with_temperature(&side).unwrap();
        assert_eq!(
            (none.temperature, none.temperature_source),
            (0.5, Source::Sidecar("m.temperature".into()))
        );
        let own = from_metadata([(KEY_TEMPERATURE, "2")]).unwrap();
        let kept = own.clone().with_temperature(&side).unwrap();
        assert_eq!(kept, own, "the model's own temperature wins over a sidecar");
        let bad = TemperatureSources {
            explicit: None,
            sidecar: Some(("m.temperature", "hot")),
        };
        assert!(
            own.clone().with_temperature(&bad).is_ok(),
            "an unused sidecar is not read"
        );
        assert!(Calibration::default()
            .with_temperature(&bad)
            .unwrap_err()
            .to_string()
            .contains("m.temperature"));
        let explicit = TemperatureSources {
            explicit: Some((3.0, Source::Explicit)),
            ..side
        };
        assert_eq!(own.with_temperature(&explicit).unwrap().temperature, 3.0);
    }

    #[test]
    fn metadata_needs_mean_and_std_together() {
        let mean = serde_json::to_string(&vec![1.0; 56]).unwrap();
        assert!(from_metadata([(KEY_NORM_MEAN, mean.as_str())]).is_err());
        let c = from_metadata([
            (KEY_NORM_MEAN, mean.as_str()),
            (KEY_NORM_STD, mean.as_str()),
            (KEY_TEMPERATURE, "2"),
        ])
        .unwrap();
        assert_eq!(c.temperature, 2.0);
        assert!((c.confidence(2.0) - 1.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-7);
        let mut w = vec![3.0; crate::WINDOW_LEN];
        c.normalise(&mut w);
        assert!(w.iter().all(|&x| x == 2.0));
    }
}
