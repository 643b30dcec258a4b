//! Errors at the Python boundary: the command's [`UserError`] becomes the
//! matching `tessera.Error` subclass (classes defined in Python, in
//! `tessera/_errors.py`), with the command's message unchanged; a panic
//! becomes `tessera.InternalError` instead of unwinding into the interpreter.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use tessera_cli::{ErrorKind, UserError};

/// An instance of `tessera._errors.<class>` carrying `message`. Falls back
/// to `RuntimeError` if the Python package is not importable (the native
/// module loaded on its own).
pub fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    let class_object = py.import("tessera._errors").and_then(|m| m.getattr(class));
    match class_object {
        Ok(cls) => match cls.call1((message,)) {
            Ok(value) => PyErr::from_value(value),
            Err(e) => e,
        },
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// The exception for a user's mistake: `InfeasibleError` for a problem
/// without a solution, `OptionError` for a refused argument (the command
/// names its flag first, `--budget: ...`), `InputError` for the rest (files,
/// specs, workloads, scenarios, placements).
pub fn user_error(py: Python<'_>, e: UserError) -> PyErr {
    let class = match e.kind {
        ErrorKind::Infeasible => "InfeasibleError",
        ErrorKind::Input if e.message.starts_with("--") => "OptionError",
        ErrorKind::Input => "InputError",
    };
    raise(py, class, e.message)
}

/// Runs `work` with the GIL released, turning its error into a Python
/// exception and a panic into `tessera.InternalError`.
pub fn detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, UserError> + Send,
{
    detached_with(py, work, user_error)
}

/// [`detached`] for work with its own error type, which `to_py` turns into
/// the Python exception.
pub fn detached_with<T, E, F>(
    py: Python<'_>,
    work: F,
    to_py: impl FnOnce(Python<'_>, E) -> PyErr,
) -> PyResult<T>
where
    T: Send,
    E: Send,
    F: FnOnce() -> Result<T, E> + Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(work))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(to_py(py, e)),
        Err(payload) => Err(internal(py, &panic_message(payload.as_ref()))),
    }
}

/// `tessera.InternalError` for a bug in tessera, described by `what`.
pub fn internal(py: Python<'_>, what: &str) -> PyErr {
    raise(
        py,
        "InternalError",
        format!("internal error (a bug in tessera; please report it): {what}"),
    )
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}
