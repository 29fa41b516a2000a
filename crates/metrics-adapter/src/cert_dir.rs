//! `--cert-dir`, as k8s.io/apiserver gives it meaning: without `--tls-cert-file` and
//! `--tls-private-key-file`, the serving pair is `apiserver.crt` and `apiserver.key` in that
//! directory; when they cannot be read, a self-signed pair is generated and written there (with
//! a warning) and served from then on. Manifests written for prometheus-adapter pass it
//! (`--cert-dir=/var/run/serving-cert`, an `emptyDir`), and a pair written there survives
//! container restarts within the pod, so the aggregator does not see a new certificate each time.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Result;
use crate::tls::{self, tls_error};

/// The file names k8s.io/apiserver uses in `--cert-dir` (its pair name is `apiserver`).
const CERT_FILE: &str = "apiserver.crt";
/// See [`CERT_FILE`].
const KEY_FILE: &str = "apiserver.key";

/// The pair in `dir` (certificate, key), written first as a self-signed one if either file
/// cannot be read.
pub fn serving_pair(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if std::fs::read(&cert).is_ok() && std::fs::read(&key).is_ok() {
        return Ok((cert, key));
    }
    let what = || format!("--cert-dir {}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| tls_error(what(), e))?;
    let (cert_pem, key_pem) = tls::self_signed_pem()?;
    write_file(&key, key_pem.as_bytes(), 0o600).map_err(|e| tls_error(what(), e))?;
    write_file(&cert, cert_pem.as_bytes(), 0o644).map_err(|e| tls_error(what(), e))?;
    tracing::warn!(
        cert = %cert.display(),
        key = %key.display(),
        "no --tls-cert-file/--tls-private-key-file: generated a self-signed certificate in \
         --cert-dir; clients cannot verify it"
    );
    Ok((cert, key))
}

/// Writes `bytes` to `path` whole, readable as `mode` says (a key only by its owner).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generates_a_pair_once_then_serves_the_files_it_finds() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("serving-cert");
        let (cert, key) = serving_pair(&certs).unwrap();
        assert_eq!(cert, certs.join("apiserver.crt"));
        assert_eq!(key, certs.join("apiserver.key"));
        let first = std::fs::read(&cert).unwrap();
        assert!(String::from_utf8_lossy(&first).contains("BEGIN CERTIFICATE"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
        }
        // A second start (a restarted container) finds the pair and keeps it.
        serving_pair(&certs).unwrap();
        assert_eq!(std::fs::read(&cert).unwrap(), first);
    }

    #[test]
    fn a_pair_put_there_is_served_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("apiserver.crt"), "mine").unwrap();
        std::fs::write(dir.path().join("apiserver.key"), "mine too").unwrap();
        let (cert, _) = serving_pair(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(cert).unwrap(), "mine");
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_an_error_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let error = serving_pair(&file.join("certs")).unwrap_err().to_string();
        assert!(error.contains("--cert-dir"), "{error}");
    }
}
