//! What can go wrong making a plot: input that cannot be drawn truthfully, a
//! drawing failure, or a file that cannot be written. Every message names the
//! plot's file.

use std::fmt;
use std::path::PathBuf;

use crate::error::UserError;

/// A plot that was not made; nothing was written to its file.
#[derive(Debug)]
pub enum PlotError {
    /// The input cannot be drawn truthfully.
    BadInput { path: PathBuf, problem: BadInput },
    /// plotters, the embedded font or the PNG encoder failed.
    Draw { path: PathBuf, message: String },
    /// The drawn plot could not be written (the error names the file).
    Write(UserError),
}

/// Input a plot refuses rather than draw a picture that would mislead.
#[derive(Clone, Debug, PartialEq)]
pub enum BadInput {
    /// A trace slice on a chiplet the package does not have.
    SliceOffPackage {
        slice: String,
        chiplet: u32,
        n_chiplets: usize,
    },
    /// A trace slice that ends before it starts.
    SliceEndsBeforeStart {
        slice: String,
        start_cycle: u64,
        end_cycle: u64,
    },
    /// A NaN or infinite coordinate: point `index` of a series.
    NotFinite {
        series: String,
        index: usize,
        point: (f64, f64),
    },
    /// A coordinate that is zero or negative on a log-scale axis.
    NotPositiveOnLogAxis {
        series: String,
        index: usize,
        point: (f64, f64),
        axis: LogAxis,
    },
}

/// Which axis is logarithmic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogAxis {
    X,
    Y,
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::BadInput { path, problem } => write!(f, "{}: {problem}", path.display()),
            PlotError::Draw { path, message } => {
                write!(f, "{}: cannot draw the plot: {message}", path.display())
            }
            PlotError::Write(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadInput::SliceOffPackage {
                slice,
                chiplet,
                n_chiplets,
            } => write!(
                f,
                "trace slice \"{slice}\" is on chiplet {chiplet} but the package has {n_chiplets} chiplets"
            ),
            BadInput::SliceEndsBeforeStart {
                slice,
                start_cycle,
                end_cycle,
            } => write!(
                f,
                "trace slice \"{slice}\" ends at cycle {end_cycle} before it starts at cycle {start_cycle}"
            ),
            BadInput::NotFinite {
                series,
                index,
                point: (x, y),
            } => write!(
                f,
                "series \"{series}\", point {index} ({x}, {y}): every coordinate must be a finite number"
            ),
            BadInput::NotPositiveOnLogAxis {
                series,
                index,
                point: (x, y),
                axis,
            } => {
                let a = match axis {
                    LogAxis::X => "x",
                    LogAxis::Y => "y",
                };
                write!(
                    f,
                    "series \"{series}\", point {index} ({x}, {y}): {a} must be positive on a log-scale {a} axis"
                )
            }
        }
    }
}

impl std::error::Error for PlotError {}

impl std::error::Error for BadInput {}

/// The command reports a plot that was not made as a user error: this module
/// knows the command's error, never the other way round.
impl From<PlotError> for UserError {
    fn from(e: PlotError) -> Self {
        UserError::new(e.to_string())
    }
}
