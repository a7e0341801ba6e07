use super::*;

#[test]
fn a_second_claim_on_the_same_dir_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let first = lock_dir(dir.path(), 4242).unwrap();
    assert_eq!(std::fs::read_to_string(first.path()).unwrap(), "4242\n");
    // flock belongs to the open file description, so a second open in the same process conflicts like another daemon.
    let error = lock_dir(dir.path(), 5151).unwrap_err();
    assert_eq!(error.code(), "ERR_DIR_LOCK_HELD");
    assert!(
        matches!(
            error,
            DirLockError::Held {
                holder: Some(4242),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("another crion daemon (PID 4242) holds"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(first.path()).unwrap(),
        "4242\n",
        "the refused claim wrote nothing"
    );
}

#[test]
fn a_released_claim_can_be_taken_again_and_names_the_new_holder() {
    let dir = tempfile::tempdir().unwrap();
    drop(lock_dir(dir.path(), 1).unwrap());
    let again = lock_dir(dir.path(), 22).unwrap();
    assert_eq!(std::fs::read_to_string(again.path()).unwrap(), "22\n");
}

#[test]
fn a_missing_dir_is_an_open_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    let error = lock_dir(&missing, 1).unwrap_err();
    assert_eq!(error.code(), "ERR_DIR_LOCK");
    assert!(
        error
            .to_string()
            .contains(&missing.join(LOCK_FILE).display().to_string()),
        "{error}"
    );
}
