//! Tests of deployment directories: round trips, and every kind of bad file refused by name.

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use tempfile::TempDir;

use super::*;

fn id(name: &str) -> PartyId {
    PartyId::new(name).unwrap()
}

fn opts(cps: u32, dps: u32, threshold: u32) -> InitOptions {
    InitOptions {
        cps,
        dps,
        threshold,
        host: "127.0.0.1".into(),
        base_port: 7400,
        force: false,
        database: None,
        cloud_frontends: 1,
    }
}

/// A fresh deployment with 3 CPs, 2 DPs, threshold 2, in a temporary directory.
fn fresh() -> (TempDir, Deployment) {
    let dir = TempDir::new().unwrap();
    let deployment = init(dir.path(), &opts(3, 2, 2)).unwrap();
    (dir, deployment)
}

fn rewrite(path: &Path, edit: impl FnOnce(String) -> String) {
    let text = fs::read_to_string(path).unwrap();
    fs::write(path, edit(text)).unwrap();
}

fn error_text<T: std::fmt::Debug>(result: Result<T, DeploymentError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn init_then_load_round_trips() {
    let (dir, made) = fresh();
    let loaded = load(dir.path()).unwrap();
    assert_eq!(loaded.roster, made.roster);
    assert_eq!(loaded.addresses, made.addresses);
    assert_eq!(loaded.defaults, Defaults::with_threshold(2));
    let ids: Vec<&str> = loaded.roster.cards().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["cloud", "cp1", "cp2", "cp3", "edge"]);
    let expected = [
        ("cloud", "127.0.0.1:7400"),
        ("edge", "127.0.0.1:7401"),
        ("cp1", "127.0.0.1:7402"),
        ("cp2", "127.0.0.1:7403"),
        ("cp3", "127.0.0.1:7404"),
    ];
    for (party, address) in expected {
        assert_eq!(loaded.address(&id(party)).unwrap(), address);
    }
    assert_eq!(loaded.addresses.len(), 5);
    assert!(matches!(
        loaded.address(&id("dp1")),
        Err(DeploymentError::UnknownParty { .. })
    ));
    assert!(matches!(
        loaded.address(&id("cp9")),
        Err(DeploymentError::UnknownParty { .. })
    ));
}

#[test]
fn every_party_loads_its_identity() {
    let (dir, deployment) = fresh();
    for card in deployment.roster.cards() {
        let identity = load_identity(dir.path(), &card.id).unwrap();
        assert_eq!(identity.card(), card);
    }
}

#[cfg(unix)]
#[test]
fn key_files_and_directory_are_private() {
    let (dir, deployment) = fresh();
    let keys = dir.path().join(KEYS_DIR);
    assert_eq!(
        fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for card in deployment.roster.cards() {
        let meta = fs::metadata(deployment.key_path(&card.id)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", card.id);
    }
    let leftovers: Vec<_> = fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn key_file_says_it_is_secret_and_round_trips() {
    let (_dir, deployment) = fresh();
    let text = fs::read_to_string(deployment.key_path(&id("cp2"))).unwrap();
    assert!(
        text.starts_with("# dsmpc SECRET key of party cp2"),
        "{text}"
    );
    assert!(
        text.contains("id = \"cp2\"\nrole = \"cp\"\nsecret = \""),
        "{text}"
    );
    let identity = deployment.load_identity(&id("cp2")).unwrap();
    assert!(text.contains(&hex::encode(identity.secret_bytes().as_ref())));
}

#[test]
fn unknown_key_in_roster_is_refused_by_name() {
    let (dir, _) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    rewrite(&path, |t| {
        t.replacen("role = \"cp\"", "role = \"cp\"\nweight = 3", 1)
    });
    let err = error_text(load(dir.path()));
    assert!(
        err.contains("roster.toml") && err.contains("weight"),
        "{err}"
    );
    assert!(err.contains("line "), "{err}");
}

#[test]
fn unknown_key_in_defaults_is_refused_by_name() {
    let (dir, _) = fresh();
    let path = dir.path().join(DEFAULTS_FILE);
    rewrite(&path, |t| t + "treshold = 3\n");
    let err = error_text(load(dir.path()));
    assert!(
        err.contains("deployment.toml") && err.contains("treshold"),
        "{err}"
    );
}

#[test]
fn defaults_are_checked_against_the_roster() {
    let (dir, _) = fresh();
    let path = dir.path().join(DEFAULTS_FILE);
    rewrite(&path, |t| t.replace("threshold = 2", "threshold = 4"));
    let err = error_text(load(dir.path()));
    assert!(
        err.contains("deployment.toml") && err.contains("threshold 4"),
        "{err}"
    );
    rewrite(&path, |t| t.replace("threshold = 4", "threshold = 3"));
    rewrite(&path, |t| {
        t.replace("mode = \"verifiable\"", "mode = \"quick\"")
    });
    let err = error_text(load(dir.path()));
    assert!(err.contains("unknown mode \"quick\""), "{err}");
    rewrite(&path, |t| t.replace("mode = \"quick\"", "mode = \"fast\""));
    assert_eq!(load(dir.path()).unwrap().defaults.mode, Mode::Fast);
    rewrite(&path, |t| {
        t.replace("submission_secs = 300", "submission_secs = 10")
    });
    let err = error_text(load(dir.path()));
    assert!(err.contains("submission_secs (10)"), "{err}");
}

#[test]
fn malformed_hex_is_refused_with_party_and_line() {
    let (dir, deployment) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    let kem = hex::encode(
        deployment
            .roster
            .get(&id("cp1"))
            .unwrap()
            .kem_key
            .to_bytes(),
    );
    rewrite(&path, |t| t.replace(&kem, &format!("zz{}", &kem[2..])));
    let err = error_text(load(dir.path()));
    assert!(
        err.contains("roster.toml") && err.contains("kem_key of cp1 is not 64 hex digits"),
        "{err}"
    );
    assert!(err.contains("line "), "{err}");
}

#[test]
fn invalid_curve_points_are_refused() {
    let (dir, deployment) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    let kem = hex::encode(
        deployment
            .roster
            .get(&id("edge"))
            .unwrap()
            .kem_key
            .to_bytes(),
    );
    rewrite(&path, |t| t.replace(&kem, &"ff".repeat(32)));
    let err = error_text(load(dir.path()));
    assert!(err.contains("kem_key of edge is not a valid"), "{err}");
}

#[test]
fn duplicate_ids_are_refused() {
    let (dir, _) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    rewrite(&path, |t| t.replace("id = \"cp2\"", "id = \"cp1\""));
    let err = error_text(load(dir.path()));
    assert!(
        err.contains("roster.toml") && err.contains("cp1 appears twice"),
        "{err}"
    );
}

#[test]
fn duplicate_addresses_and_misplaced_addresses_are_refused() {
    let (dir, _) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    rewrite(&path, |t| t.replace("127.0.0.1:7403", "127.0.0.1:7402"));
    let err = error_text(load(dir.path()));
    assert!(err.contains("given to both cp1 and cp2"), "{err}");

    // A DP's block with an address, in a card file for registration.
    let (dir, made) = fresh();
    let dp = made.load_identity(&id("dp1")).unwrap();
    let cards = dir.path().join("dp1.toml");
    fs::write(&cards, card_toml(dp.card(), Some("h:1"))).unwrap();
    let err = error_text(read_dp_cards(&cards));
    assert!(err.contains("only connects out"), "{err}");

    let (dir, _) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    rewrite(&path, |t| t.replace("address = \"127.0.0.1:7404\"\n", ""));
    let err = error_text(load(dir.path()));
    assert!(err.contains("cp3 is a cp and needs an address"), "{err}");
}

/// `init` registers its DPs in the cloud's store, not the roster; a DP loads its key file alone;
/// a roster that lists a DP is refused with the way to register it.
#[test]
fn init_registers_its_dps_with_the_cloud_and_keeps_them_out_of_the_roster() {
    let (dir, made) = fresh();
    let store = crate::store::Store::open(&dir.path().join(CLOUD_DB)).unwrap();
    let registered: Vec<PartyId> = store
        .registered_dps()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(registered, [id("dp1"), id("dp2")]);
    let dp1 = made.load_identity(&id("dp1")).unwrap();
    assert_eq!(
        store.dp_card(&id("dp1")).unwrap().as_ref(),
        Some(dp1.card())
    );
    assert!(made.roster.get(&id("dp1")).is_none());
    assert!(matches!(
        made.load_identity(&id("dp9")),
        Err(DeploymentError::UnknownParty { .. })
    ));

    let path = dir.path().join(ROSTER_FILE);
    let block = card_toml(dp1.card(), None);
    rewrite(&path, |t| t + "\n" + &block);
    let err = error_text(load(dir.path()));
    assert!(
        err.contains("roster.toml") && err.contains("dsmpc dp register"),
        "{err}"
    );

    // `init --force` starts the registry over with the new keys.
    drop(store);
    let forced = InitOptions {
        force: true,
        ..opts(3, 2, 2)
    };
    let remade = init(dir.path(), &forced).unwrap();
    let store = crate::store::Store::open(&dir.path().join(CLOUD_DB)).unwrap();
    let new_dp1 = remade.load_identity(&id("dp1")).unwrap();
    assert_eq!(
        store.dp_card(&id("dp1")).unwrap().as_ref(),
        Some(new_dp1.card())
    );
}

/// The card files `dp register` reads: DP blocks only, each once.
#[test]
fn dp_card_files_hold_data_providers_only() {
    let (dir, made) = fresh();
    let dp1 = made.load_identity(&id("dp1")).unwrap();
    let dp2 = made.load_identity(&id("dp2")).unwrap();
    let path = dir.path().join("cards.toml");
    let both = card_toml(dp1.card(), None) + "\n" + &card_toml(dp2.card(), None);
    fs::write(&path, &both).unwrap();
    let cards = read_dp_cards(&path).unwrap();
    assert_eq!(cards, [dp1.card().clone(), dp2.card().clone()]);
    fs::write(&path, card_toml(made.roster.cloud(), Some("h:1"))).unwrap();
    assert!(error_text(read_dp_cards(&path)).contains("cloud is a cloud, not a data provider"));
    fs::write(&path, both.clone() + "\n" + &card_toml(dp1.card(), None)).unwrap();
    assert!(error_text(read_dp_cards(&path)).contains("dp1 appears twice"));
    fs::write(&path, "").unwrap();
    assert!(error_text(read_dp_cards(&path)).contains("no [[party]] block"));
}

#[test]
fn roster_without_an_edge_is_refused() {
    let (dir, _) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    rewrite(&path, |t| t.replace("role = \"edge\"", "role = \"cp\""));
    let err = error_text(load(dir.path()));
    assert!(
        err.contains("roster.toml") && err.contains("exactly one edge"),
        "{err}"
    );
}

#[test]
fn missing_files_are_named() {
    let dir = TempDir::new().unwrap();
    let err = error_text(load(dir.path()));
    assert!(err.contains("roster.toml does not exist"), "{err}");

    let (dir, _) = fresh();
    fs::remove_file(dir.path().join(DEFAULTS_FILE)).unwrap();
    let err = error_text(load(dir.path()));
    assert!(err.contains("deployment.toml does not exist"), "{err}");

    let (dir, deployment) = fresh();
    fs::remove_file(deployment.key_path(&id("cp1"))).unwrap();
    let err = error_text(load_identity(dir.path(), &id("cp1")));
    assert!(err.contains("cp1.key does not exist"), "{err}");
}

#[cfg(unix)]
#[test]
fn key_file_readable_by_others_is_refused() {
    let (dir, deployment) = fresh();
    let path = deployment.key_path(&id("cp1"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = error_text(load_identity(dir.path(), &id("cp1")));
    assert!(
        err.contains("cp1.key") && err.contains("mode 644") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn key_not_matching_the_roster_is_refused() {
    let (dir, deployment) = fresh();
    let (other, _) = fresh();
    fs::copy(
        other.path().join(KEYS_DIR).join("cp1.key"),
        deployment.key_path(&id("cp1")),
    )
    .unwrap();
    let err = error_text(load_identity(dir.path(), &id("cp1")));
    assert!(
        err.contains("cp1.key") && err.contains("do not match"),
        "{err}"
    );
}

#[test]
fn key_of_another_party_or_malformed_key_is_refused() {
    let (dir, deployment) = fresh();
    let cp1 = deployment.key_path(&id("cp1"));
    fs::copy(deployment.key_path(&id("cp2")), &cp1).unwrap();
    let err = error_text(load_identity(dir.path(), &id("cp1")));
    assert!(err.contains("holds the key of \"cp2\""), "{err}");

    let (dir, deployment) = fresh();
    let path = deployment.key_path(&id("cp1"));
    let secret = hex::encode(
        deployment
            .load_identity(&id("cp1"))
            .unwrap()
            .secret_bytes()
            .as_ref(),
    );
    rewrite(&path, |t| t.replace(&secret, &secret[..190]));
    let err = error_text(load_identity(dir.path(), &id("cp1")));
    assert!(err.contains("secret is not 192 hex digits"), "{err}");
    assert!(
        !err.contains(&secret[..16]),
        "the error shows the secret: {err}"
    );

    rewrite(&path, |t| t + "extra = 1\n");
    let err = error_text(load_identity(dir.path(), &id("cp1")));
    assert!(err.contains("cp1.key") && err.contains("extra"), "{err}");
    assert!(
        !err.contains(&secret[..16]),
        "the error shows the secret: {err}"
    );
}

#[test]
fn init_refuses_an_existing_deployment_without_force() {
    let (dir, first) = fresh();
    let err = error_text(init(dir.path(), &opts(3, 2, 2)));
    assert!(
        err.contains("roster.toml already exists") && err.contains("--force"),
        "{err}"
    );
    let forced = init(
        dir.path(),
        &InitOptions {
            force: true,
            ..opts(3, 2, 2)
        },
    )
    .unwrap();
    assert_ne!(forced.roster, first.roster, "fresh keys");
    for card in forced.roster.cards() {
        assert_eq!(forced.load_identity(&card.id).unwrap().card(), card);
    }
}

#[test]
fn init_refuses_bad_options() {
    let dir = TempDir::new().unwrap();
    let err = error_text(init(dir.path(), &opts(3, 2, 4)));
    assert!(err.contains("threshold 4") && err.contains("(3)"), "{err}");
    let err = error_text(init(dir.path(), &opts(3, 2, 0)));
    assert!(err.contains("threshold 0"), "{err}");
    let err = error_text(init(dir.path(), &opts(0, 2, 1)));
    assert!(err.contains("cps"), "{err}");
    let err = error_text(init(dir.path(), &opts(3, 0, 1)));
    assert!(err.contains("dps"), "{err}");
    let high = InitOptions {
        base_port: 65532,
        ..opts(3, 2, 2)
    };
    let err = error_text(init(dir.path(), &high));
    assert!(
        err.contains("base port 65532") && err.contains("--base-port 65531 or lower"),
        "{err}"
    );
    let edge = InitOptions {
        base_port: 65531,
        ..opts(3, 2, 2)
    };
    assert_eq!(
        init(dir.path(), &edge)
            .unwrap()
            .address(&id("cp3"))
            .unwrap(),
        "127.0.0.1:65535"
    );
    let bad_host = InitOptions {
        host: "a b".into(),
        force: true,
        ..opts(3, 2, 2)
    };
    let err = error_text(init(dir.path(), &bad_host));
    assert!(err.contains("host \"a b\""), "{err}");
}

#[test]
fn addresses_are_checked() {
    for good in [
        "127.0.0.1:7400",
        "cp-1.example.org:1",
        "[::1]:65535",
        "localhost:80",
    ] {
        assert!(check_address(good).is_ok(), "{good}");
    }
    for bad in [
        "127.0.0.1",
        "h:0",
        "h:70000",
        ":80",
        "::1:80",
        "a b:1",
        "h\":1",
    ] {
        assert!(check_address(bad).is_err(), "{bad}");
    }
}

#[test]
fn keygen_writes_a_private_key_and_a_pasteable_card() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("mine");
    let identity = keygen(&id("cp7"), Role::Cp, &out).unwrap();
    let path = out.join("cp7.key");
    #[cfg(unix)]
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = read_key_file(&path, &id("cp7")).unwrap();
    assert_eq!(again.card(), identity.card());
    let err = error_text(keygen(&id("cp7"), Role::Cp, &out));
    assert!(err.contains("cp7.key already exists"), "{err}");

    let block = card_toml(identity.card(), Some("10.0.0.7:7409"));
    let file: RosterFile = format::parse(Path::new("block"), &block).unwrap();
    let text = block.clone();
    let (card, address) = party_from_entry(Path::new("block"), &text, &file.party[0]).unwrap();
    assert_eq!(&card, identity.card());
    assert_eq!(address.as_deref(), Some("10.0.0.7:7409"));
}

#[test]
fn keygen_card_joins_an_existing_roster() {
    let (dir, _) = fresh();
    let identity = keygen(&id("cp4"), Role::Cp, &dir.path().join(KEYS_DIR)).unwrap();
    let block = card_toml(identity.card(), Some("127.0.0.1:7405"));
    rewrite(&dir.path().join(ROSTER_FILE), |t| format!("{t}\n{block}"));
    let loaded = load(dir.path()).unwrap();
    assert_eq!(loaded.roster.of_role(Role::Cp).count(), 4);
    assert_eq!(
        loaded.load_identity(&id("cp4")).unwrap().card(),
        identity.card()
    );
}

#[test]
fn debug_of_an_identity_hides_the_secret() {
    let (_dir, deployment) = fresh();
    let identity = deployment.load_identity(&id("dp1")).unwrap();
    let secret = hex::encode(identity.secret_bytes().as_ref());
    assert!(!format!("{identity:?} {deployment:?}").contains(&secret[..16]));
}

/// The cloud may list one address per front-end; each is checked like any address, none may
/// repeat, and no other server may list several.
#[test]
fn the_cloud_lists_one_address_per_front_end() {
    let (dir, _) = fresh();
    let path = dir.path().join(ROSTER_FILE);
    rewrite(&path, |t| {
        t.replace("\"127.0.0.1:7400\"", "\"127.0.0.1:7400, 127.0.0.1:7410\"")
    });
    let loaded = load(dir.path()).unwrap();
    let cloud = id("cloud");
    assert_eq!(
        loaded.frontend_address(&cloud, 1).unwrap(),
        "127.0.0.1:7400"
    );
    assert_eq!(
        loaded.frontend_address(&cloud, 2).unwrap(),
        "127.0.0.1:7410"
    );
    for missing in [0, 3] {
        let err = error_text(loaded.frontend_address(&cloud, missing));
        assert!(err.contains(&format!("no front-end {missing}")), "{err}");
    }
    assert_eq!(
        loaded.frontend_address(&id("cp1"), 1).unwrap(),
        "127.0.0.1:7402"
    );

    let refused = |from: &str, to: &str| {
        let (dir, _) = fresh();
        let path = dir.path().join(ROSTER_FILE);
        rewrite(&path, |t| t.replace(from, to));
        error_text(load(dir.path()))
    };
    let err = refused("\"127.0.0.1:7402\"", "\"127.0.0.1:7402,127.0.0.1:7411\"");
    assert!(err.contains("only the cloud may list several"), "{err}");
    let err = refused("\"127.0.0.1:7400\"", "\"127.0.0.1:7400,127.0.0.1:7400\"");
    assert!(err.contains("appears twice in cloud's list"), "{err}");
    let err = refused("\"127.0.0.1:7400\"", "\"127.0.0.1:7400,127.0.0.1:7403\"");
    assert!(err.contains("given to both cloud and cp2"), "{err}");
    let err = refused("\"127.0.0.1:7400\"", "\"127.0.0.1:7400,\"");
    assert!(err.contains("address of cloud"), "{err}");
}

/// Several front-ends share one PostgreSQL database: `init` refuses them without one, and
/// refuses a count out of range.
#[test]
fn several_front_ends_need_a_database() {
    let dir = TempDir::new().unwrap();
    let two = InitOptions {
        cloud_frontends: 2,
        ..opts(3, 2, 2)
    };
    let err = error_text(init(dir.path(), &two));
    assert!(err.contains("--database"), "{err}");
    for bad in [0, MAX_FRONTENDS + 1] {
        let err = error_text(init(
            dir.path(),
            &InitOptions {
                cloud_frontends: bad,
                ..opts(3, 2, 2)
            },
        ));
        assert!(err.contains("--cloud-frontends"), "{err}");
    }
    assert!(!dir.path().join(ROSTER_FILE).exists());
}
