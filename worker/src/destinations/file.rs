//! Files under `FILE_DESTINATION_ROOT`: each delivery is `<root>/<path>/<webhook_id>`,
//! holding exactly the ingested bytes and no metadata.
//!
//! The file is written under a temporary name, fsynced, renamed into place and its
//! directory fsynced, so it is either whole or absent after a crash; the directory must
//! exist (hookrelay creates none), and one that leads out of the root (through a symlink
//! made since the subscription was saved) is refused.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use hookrelay_domain::destinations::FileDirectory as Settings;
use hookrelay_domain::destinations::input::{escapes_root, relative_path_problem};

use super::message::{Ack, Failure, Message};

pub async fn write(
    root: Option<&Path>,
    settings: &Settings,
    message: &Message,
) -> Result<Ack, Failure> {
    let Some(root) = root else {
        return Err(Failure::retry(
            "FILE_DESTINATION_ROOT is not set on this worker",
        ));
    };
    if let Some(problem) = relative_path_problem(Path::new(&settings.path))
        .or_else(|| escapes_root(root, Path::new(&settings.path)))
    {
        return Err(Failure::permanent(format!(
            "file destination refused: {problem}"
        )));
    }
    let directory = root.join(&settings.path);
    let name = message.webhook_id.to_string();
    let body = message.body.clone();
    tokio::task::spawn_blocking(move || write_synced(&directory, &name, &body))
        .await
        .map_err(|e| Failure::retry(format!("file write did not finish: {e}")))?
}

fn write_synced(directory: &Path, name: &str, body: &[u8]) -> Result<Ack, Failure> {
    let describe = |what: &str, path: &Path, e: std::io::Error| {
        Failure::retry(format!("{what} {} failed: {e}", path.display()))
    };
    if !directory.is_dir() {
        return Err(Failure::retry(format!(
            "directory {} does not exist (hookrelay creates none)",
            directory.display()
        )));
    }
    let target = directory.join(name);
    let partial: PathBuf = directory.join(format!(".{name}.partial"));
    let mut file =
        std::fs::File::create(&partial).map_err(|e| describe("creating", &partial, e))?;
    file.write_all(body)
        .and_then(|()| file.sync_all())
        .map_err(|e| describe("writing", &partial, e))?;
    drop(file);
    std::fs::rename(&partial, &target).map_err(|e| describe("renaming", &target, e))?;
    std::fs::File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(|e| describe("syncing", directory, e))?;
    Ok(format!("{} bytes written and synced", body.len()))
}
