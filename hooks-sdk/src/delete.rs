//! Delete an object if it exists and wait until it is gone.

use std::time::Duration;

use crate::{client, HookError, ObjectRef};

/// Delete `obj` with background propagation (a Job's pods go with it) and wait up to
/// `timeout` until it is gone. Returns true when something was deleted, false when it was
/// already absent (not an error). Grant: `delete` on the object's type (and name).
///
/// The wait is the host's (`cluster.delete` with `wait-ms`): it ends when the object is gone
/// or replaced by a new one with another uid. A timeout is an error for which
/// `is_timeout()` is true.
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// # use std::time::Duration;
/// # fn f() -> Result<(), HookError> {
/// let job = ObjectRef::job("migrate");
/// match delete_if_exists_and_wait(&job, Duration::from_secs(30))? {
///     true => println!("{job} deleted"),
///     false => println!("{job} absent: nothing to delete"),
/// }
/// # Ok(()) }
/// ```
pub fn delete_if_exists_and_wait(obj: &ObjectRef, timeout: Duration) -> Result<bool, HookError> {
    client::delete(obj, Some(timeout))
}
