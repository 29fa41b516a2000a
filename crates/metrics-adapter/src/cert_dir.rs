//! `--cert-dir`, as k8s.io/apiserver gives it meaning: without `--tls-cert-file` and
//! `--tls-private-key-file`, the serving pair is `apiserver.crt` and `apiserver.key` in that
//! directory; when they cannot be read, a self-signed pair is generated and written there (with
//! a warning) and served from then on. Manifests written for prometheus-adapter pass it
//! (`--cert-dir=/var/run/serving-cert`, an `emptyDir`), and a pair written there survives
//! container restarts within the pod, so the aggregator does not see a new certificate each time.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Result;
use crate::serving_cert::ServingCert;
use crate::tls::{self, tls_error};

/// The file names k8s.io/apiserver uses in `--cert-dir` (its pair name is `apiserver`).
const CERT_FILE: &str = "apiserver.crt";
/// See [`CERT_FILE`].
const KEY_FILE: &str = "apiserver.key";

/// The pair in `dir` (certificate, key), written first as a self-signed one if either file
/// cannot be read or the two do not make a usable pair (a write cut short by a kill).
pub fn serving_pair(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    let missing: Vec<String> = [&cert, &key]
        .into_iter()
        .filter(|path| std::fs::read(path).is_err())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        match ServingCert::load(Some(&cert), Some(&key)) {
            Ok(_) => return Ok((cert, key)),
            Err(error) => tracing::warn!(
                %error,
                "the pair in --cert-dir is not usable; writing a new self-signed one"
            ),
        }
    } else {
        tracing::info!(missing = ?missing, "--cert-dir has no pair to serve yet");
    }
    let what = || format!("--cert-dir {}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| tls_error(what(), e))?;
    let (cert_pem, key_pem) = tls::self_signed_pem()?;
    // Each file is written beside its name and renamed over it, the key first: a kill leaves
    // whole files, and a certificate never stands beside a key that is not its own for long.
    replace_file(&key, key_pem.as_bytes(), 0o600).map_err(|e| tls_error(what(), e))?;
    replace_file(&cert, cert_pem.as_bytes(), 0o644).map_err(|e| tls_error(what(), e))?;
    tracing::warn!(
        cert = %cert.display(),
        key = %key.display(),
        "no --tls-cert-file/--tls-private-key-file: generated a self-signed certificate in \
         --cert-dir; clients cannot verify it"
    );
    Ok((cert, key))
}

/// Writes `bytes` to a temporary file beside `path`, readable as `mode` says (a key only by
/// its owner), then renames it over `path`.
fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file = options.open(&temporary)?;
    // The mode above applies only to a file this call created; a leftover keeps its own.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
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
        let (cert_pem, key_pem) = tls::self_signed_pem().unwrap();
        std::fs::write(dir.path().join("apiserver.crt"), &cert_pem).unwrap();
        std::fs::write(dir.path().join("apiserver.key"), &key_pem).unwrap();
        let (cert, _) = serving_pair(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(cert).unwrap(), cert_pem);
    }

    #[test]
    fn a_broken_or_half_pair_is_replaced_by_a_whole_one() {
        let (cert_pem, key_pem) = tls::self_signed_pem().unwrap();
        let (_, other_key) = tls::self_signed_pem().unwrap();
        for (cert, key) in [
            (Some(cert_pem.as_str()), None),
            (None, Some(key_pem.as_str())),
            (Some(""), Some("")),
            (Some(cert_pem.as_str()), Some(other_key.as_str())),
        ] {
            let dir = tempfile::tempdir().unwrap();
            if let Some(cert) = cert {
                std::fs::write(dir.path().join("apiserver.crt"), cert).unwrap();
            }
            if let Some(key) = key {
                std::fs::write(dir.path().join("apiserver.key"), key).unwrap();
            }
            let (cert_file, key_file) = serving_pair(dir.path()).unwrap();
            assert!(
                ServingCert::load(Some(&cert_file), Some(&key_file)).is_ok(),
                "not replaced by a usable pair: cert {cert:?}, key {key:?}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_left_readable_by_others_is_rewritten_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("apiserver.key");
        std::fs::write(&key, "stale").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(dir.path().join("apiserver.key.tmp"), "leftover").unwrap();
        std::fs::set_permissions(
            dir.path().join("apiserver.key.tmp"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        serving_pair(dir.path()).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
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
