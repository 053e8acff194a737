//! Replaying a recording against a model: records in, [`FramePrediction`]s out, in batches.
