//! The Kubernetes manifests (`deploy/kubernetes`), checked without a cluster: every overlay
//! renders with `kubectl kustomize`; every built-in kind validates strictly (no unknown field)
//! against the Kubernetes version targeted, by kubernetes-validate (PyPI); checkov (PyPI) finds
//! nothing but the checks skipped below, each with its reason; and the rendered objects say what
//! a reviewer looks for: probes on the internal listener, a hardened and bounded pod, no Secret
//! with values, only settings the services have, NetworkPolicies that open just what each
//! service talks to, and the databases, broker and autoscaling fitting together. The custom
//! resources (CloudNativePG, RabbitMQ) are not checked against their operators' CRD schemas:
//! none is published in a registry this project installs from (README, "Running it on
//! Kubernetes"); the assertions below check the fields the shop relies on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The Kubernetes releases the built-in kinds are validated against: the oldest the README
/// names (the RabbitMQ operator's newest releases need it) and the one targeted.
const KUBERNETES_VERSIONS: &[&str] = &["1.31.0", "1.34.0"];

/// Each overlay and the namespace it deploys into.
const OVERLAYS: &[(&str, &str)] = &[("dev", "shop-dev"), ("production", "shop")];

/// The operators' kinds: kubernetes-validate has no schema for them (it warns, and passes).
const CUSTOM_KINDS: &[&str] = &["Cluster", "Database", "RabbitmqCluster"];

/// checkov checks skipped, in every overlay or in one, with the reason.
const CHECKOV_SKIPS: &[(&str, Option<&str>, &str)] = &[
    // The image is built by whoever deploys (docker build), so no digest can be committed; the
    // production overlay's `images:` entry says to pin it by digest at release time.
    ("CKV_K8S_43", None, "image by digest"),
    // The services read their database and broker URLs, the CSRF key and the operator's
    // password from environment variables only (the signing key, which has a *_FILE setting,
    // is mounted as a file).
    ("CKV_K8S_35", None, "secrets as files"),
    // dev runs an image loaded into the local cluster (kind load, minikube image load), which
    // a pull policy of Always would try to pull from a registry.
    ("CKV_K8S_15", Some("dev"), "image pull policy Always"),
];

/// Per service: its settings' prefix, the ports it reaches (besides DNS) and its database.
const SERVICES: &[(&str, &str, &[u16], Option<&str>)] = &[
    ("customer", "CUSTOMER", &[5432, 5672], Some("shop_customer")),
    (
        "product-order",
        "PRODUCT_ORDER",
        &[5432, 5672, 8081],
        Some("shop_product_order"),
    ),
    ("web", "WEB", &[5672, 8081, 8082], None),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where .ci/run installs kubernetes-validate and checkov (a virtualenv of their own, so that
/// checkov's many pinned dependencies meet no other tool's); `SHOP_KUBE_CHECKS_BIN` overrides.
fn tool(name: &str) -> PathBuf {
    let dir = std::env::var("SHOP_KUBE_CHECKS_BIN").unwrap_or_else(|_| "/opt/shop-kube-checks/bin".to_owned());
    let installed = Path::new(&dir).join(name);
    if installed.exists() {
        installed
    } else {
        PathBuf::from(name)
    }
}

fn run(command: &mut Command, what: &str) -> Output {
    command.output().unwrap_or_else(|e| panic!("{what} ({e})"))
}

/// The overlay rendered by `kubectl kustomize`: its YAML and its objects.
fn render(overlay: &str) -> (String, Vec<Value>) {
    let dir = root().join("deploy/kubernetes/overlays").join(overlay);
    let output = run(
        Command::new("kubectl").arg("kustomize").arg(&dir),
        "kubectl (1.27 or newer, for kustomize v5; Debian 12's kubernetes-client 1.20 is too old) \
         renders deploy/kubernetes, and .ci/run says when it is missing",
    );
    assert!(
        output.status.success(),
        "kubectl kustomize {overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).expect("UTF-8 YAML");
    let mut python = Command::new(tool("python3"));
    python
        .args([
            "-c",
            "import sys, json, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = python
        .spawn()
        .expect("python3 with PyYAML (in the checks' virtualenv) reads YAML");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), yaml.as_bytes()).unwrap();
    let json = child.wait_with_output().unwrap();
    assert!(json.status.success(), "YAML of {overlay} to JSON failed");
    (
        yaml,
        serde_json::from_slice(&json.stdout).expect("a JSON list of objects"),
    )
}

/// The rendered overlay in a file of its own, for the tools that read files; removed on drop.
struct Rendered(PathBuf);

impl Rendered {
    fn write(overlay: &str, check: &str, yaml: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("shop-kubernetes-{}-{check}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{overlay}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        Self(path)
    }
}

impl Drop for Rendered {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(objects, kind)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("{value} is not a string"))
}

#[test]
fn every_overlay_renders_and_its_built_in_kinds_validate_strictly() {
    for (overlay, _) in OVERLAYS {
        let (yaml, objects) = render(overlay);
        let file = Rendered::write(overlay, "validate", &yaml);
        let output = run(
            Command::new(tool("kubernetes-validate"))
                .arg("--strict")
                .args(KUBERNETES_VERSIONS.iter().flat_map(|v| ["-k", v]))
                .arg(&file.0),
            "kubernetes-validate (PyPI) validates the manifests; .ci/run installs it",
        );
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "kubernetes-validate {overlay}:\n{report}");
        let built_in = objects
            .iter()
            .filter(|o| !CUSTOM_KINDS.contains(&text(&o["kind"])))
            .count();
        let passed = report
            .lines()
            .filter(|l| l.starts_with("INFO") && l.contains(" passed "))
            .count();
        assert_eq!(
            passed,
            built_in * KUBERNETES_VERSIONS.len(),
            "every built-in object of {overlay} validated:\n{report}"
        );
        for line in report.lines().filter(|l| l.starts_with("WARN")) {
            assert!(
                CUSTOM_KINDS.iter().any(|kind| line.contains(&format!("kind {kind} "))),
                "kubernetes-validate had no schema for a kind that is not an operator's: {line}"
            );
        }
        eprintln!("{overlay}: {built_in} built-in objects valid for Kubernetes {KUBERNETES_VERSIONS:?} (strict)");
    }
}

#[test]
fn checkov_finds_nothing_but_the_checks_skipped_with_their_reasons() {
    let rendered: Vec<_> = OVERLAYS
        .iter()
        .map(|(overlay, _)| (*overlay, Rendered::write(overlay, "checkov", &render(overlay).0)))
        .collect();
    std::thread::scope(|scope| {
        let runs: Vec<_> = rendered
            .iter()
            .map(|(overlay, file)| scope.spawn(move || (overlay, checkov(overlay, &file.0))))
            .collect();
        for run in runs {
            let (overlay, (passed, failed)) = run.join().unwrap();
            assert!(failed.is_empty(), "checkov on {overlay} failed:\n{}", failed.join("\n"));
            // A file checkov could not read passes with nothing checked.
            assert!(passed > 100, "checkov on {overlay} ran only {passed} checks");
            eprintln!("{overlay}: checkov passed {passed} checks");
        }
    });
}

/// checkov on one rendered overlay: checks passed, and each failure as "check resource".
fn checkov(overlay: &str, file: &Path) -> (u64, Vec<String>) {
    let skips: Vec<&str> = CHECKOV_SKIPS
        .iter()
        .filter(|(_, only, _)| only.is_none_or(|o| o == overlay))
        .map(|(id, _, _)| *id)
        .collect();
    let output = run(
        Command::new(tool("checkov"))
            .args([
                "--framework",
                "kubernetes",
                "--output",
                "json",
                "--skip-download",
                "--quiet",
            ])
            .args(["--skip-check", &skips.join(",")])
            .arg("--file")
            .arg(file),
        "checkov (PyPI) checks the manifests; .ci/run installs it",
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov on {overlay} gave no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let failed = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {} ({})",
                text(&c["check_id"]),
                text(&c["resource"]),
                text(&c["check_name"])
            )
        })
        .collect();
    (report["summary"]["passed"].as_u64().unwrap_or(0), failed)
}

/// The names of the settings the README's Configuration table lists.
fn documented_settings() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = readme
        .split("## Configuration")
        .nth(1)
        .expect("a Configuration section");
    table
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|line| line.split(" |").next())
        .flat_map(|names| names.split(", "))
        .filter_map(|name| name.strip_prefix('`')?.strip_suffix('`').map(str::to_owned))
        .collect()
}

/// A port: a number, or the name of one of the container's ports.
fn port_number(port: &Value, container: &Value) -> u64 {
    port.as_u64().unwrap_or_else(|| {
        let named = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == *port);
        named.unwrap_or_else(|| panic!("no port {port}"))["containerPort"]
            .as_u64()
            .unwrap()
    })
}

fn container_of(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn env_of(container: &Value) -> BTreeMap<&str, &Value> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (text(&e["name"]), e))
        .collect()
}

/// The literal value of a variable.
fn setting<'a>(env: &BTreeMap<&str, &'a Value>, name: &str) -> &'a str {
    text(&env.get(name).unwrap_or_else(|| panic!("{name} is not set"))["value"])
}

/// The port of a `0.0.0.0:PORT` listen address.
fn listen_port(address: &str) -> u64 {
    let port = address.strip_prefix("0.0.0.0:");
    port.unwrap_or_else(|| panic!("{address} does not listen on every address"))
        .parse()
        .unwrap()
}

/// A variable whose value must come from a Secret.
fn is_secret(name: &str) -> bool {
    name.contains("PASSWORD") || name.contains("SECRET") || (name.ends_with("_KEY") && !name.ends_with("_FILE"))
}

#[test]
fn deployments_are_probed_on_their_internal_port_hardened_and_bounded() {
    let settings = documented_settings();
    for (overlay, namespace) in OVERLAYS {
        let (_, objects) = render(overlay);
        let secrets = of_kind(&objects, "Secret");
        assert!(
            secrets.is_empty(),
            "{overlay} renders a Secret: secrets are created by hand"
        );
        for object in objects.iter().filter(|o| o["kind"] != "Namespace") {
            let what = format!("{overlay}: {} {}", object["kind"], object["metadata"]["name"]);
            assert_eq!(object["metadata"]["namespace"], *namespace, "{what}: namespace");
        }
        for config in of_kind(&objects, "ConfigMap") {
            for key in config["data"].as_object().unwrap().keys() {
                assert!(
                    settings.contains(key),
                    "{overlay}: ConfigMap key {key} is no setting in the README"
                );
            }
        }
        for (service, prefix, _, _) in SERVICES {
            let deployment = named(&objects, "Deployment", service);
            let what = format!("{overlay}/{service}");
            assert_hardened_and_bounded(&what, &deployment["spec"]["template"]["spec"]);
            assert_probed_on_the_internal_port(&what, container_of(deployment), prefix);
            assert_settings_only(&what, &env_of(container_of(deployment)), &settings);
        }
    }
}

fn assert_hardened_and_bounded(what: &str, pod: &Value) {
    let context = &pod["securityContext"];
    assert_eq!(pod["automountServiceAccountToken"], false, "{what}: token automount");
    assert_eq!(context["runAsNonRoot"], true, "{what}: runAsNonRoot");
    assert_eq!(context["seccompProfile"]["type"], "RuntimeDefault", "{what}: seccomp");
    let container = &pod["containers"][0];
    let hardening = &container["securityContext"];
    assert_eq!(hardening["readOnlyRootFilesystem"], true, "{what}: read-only root");
    assert_eq!(
        hardening["allowPrivilegeEscalation"], false,
        "{what}: privilege escalation"
    );
    assert_eq!(
        hardening["capabilities"]["drop"],
        serde_json::json!(["ALL"]),
        "{what}: capabilities"
    );
    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            let value = &container["resources"][bound][resource];
            assert!(value.is_string(), "{what}: {bound}.{resource}");
        }
    }
    let image = text(&container["image"]);
    assert!(
        image.contains("shop:") && !image.ends_with(":latest"),
        "{what}: image {image}"
    );
}

fn assert_probed_on_the_internal_port(what: &str, container: &Value, prefix: &str) {
    let env = env_of(container);
    let internal = listen_port(setting(&env, &format!("{prefix}_INTERNAL_ADDR")));
    let public = listen_port(setting(&env, &format!("{prefix}_ADDR")));
    assert_eq!(port_number(&"http".into(), container), public, "{what}: the http port");
    assert_eq!(
        port_number(&"internal".into(), container),
        internal,
        "{what}: the internal port"
    );
    for (probe, path) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{what}: {probe}");
        assert_eq!(
            port_number(&get["port"], container),
            internal,
            "{what}: {probe} on the internal port"
        );
    }
}

fn assert_settings_only(what: &str, env: &BTreeMap<&str, &Value>, settings: &BTreeSet<String>) {
    for (name, entry) in env {
        // DB_PASSWORD and the like exist only to be spelled into a URL as $(DB_PASSWORD).
        let spelled = env
            .values()
            .any(|e| e["value"].as_str().is_some_and(|v| v.contains(&format!("$({name})"))));
        let known = settings.contains(*name) || spelled;
        assert!(known, "{what}: {name} is neither a setting nor spelled into one");
        if is_secret(name) {
            let from_secret = entry["valueFrom"]["secretKeyRef"].is_object();
            assert!(from_secret, "{what}: {name} must come from a Secret");
        }
    }
}

#[test]
fn network_policies_open_only_what_each_service_talks_to() {
    for (overlay, _) in OVERLAYS {
        let (_, objects) = render(overlay);
        let policies = of_kind(&objects, "NetworkPolicy");
        for (service, _, reaches, _) in SERVICES {
            let what = format!("{overlay}/{service}");
            let policy = policies
                .iter()
                .find(|p| p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == *service)
                .unwrap_or_else(|| panic!("{what}: no NetworkPolicy selects its pods"));
            let types = serde_json::json!(["Ingress", "Egress"]);
            assert_eq!(policy["spec"]["policyTypes"], types, "{what}: policy types");
            let egress = policy["spec"]["egress"].as_array().unwrap();
            let mut ports = BTreeSet::new();
            for rule in egress {
                // Every egress rule names where it goes and which ports: none opens everything.
                assert!(rule["to"].as_array().is_some_and(|to| !to.is_empty()), "{what}: {rule}");
                let rule_ports = rule["ports"].as_array();
                let rule_ports = rule_ports.unwrap_or_else(|| panic!("{what}: {rule} names no port"));
                ports.extend(rule_ports.iter().map(|p| p["port"].as_u64().unwrap()));
            }
            let expected: BTreeSet<u64> = reaches.iter().map(|&p| u64::from(p)).chain([53]).collect();
            assert_eq!(ports, expected, "{what}: egress ports");
        }
    }
}

#[test]
fn databases_broker_replicas_and_ingress_fit_together() {
    for (overlay, _) in OVERLAYS {
        let (_, objects) = render(overlay);
        let production = *overlay == "production";
        let cluster = of_kind(&objects, "Cluster")[0];
        let cluster_name = text(&cluster["metadata"]["name"]);
        let database = of_kind(&objects, "Database")[0];
        assert_eq!(
            database["spec"]["cluster"]["name"], cluster_name,
            "{overlay}: the Database's cluster"
        );
        let created = [
            text(&cluster["spec"]["bootstrap"]["initdb"]["database"]),
            text(&database["spec"]["name"]),
        ];
        let broker = of_kind(&objects, "RabbitmqCluster")[0];
        let members = if production { 3 } else { 1 };
        assert_eq!(cluster["spec"]["instances"], members, "{overlay}: PostgreSQL instances");
        assert_eq!(broker["spec"]["replicas"], members, "{overlay}: RabbitMQ nodes");

        let mut connections = 0;
        for (service, prefix, _, db) in SERVICES {
            let what = format!("{overlay}/{service}");
            let deployment = named(&objects, "Deployment", service);
            let env = env_of(container_of(deployment));
            let amqp = setting(&env, "SHOP_AMQP_URL");
            let broker_service = format!("@{}:5672/", text(&broker["metadata"]["name"]));
            assert!(amqp.contains(&broker_service), "{what}: {amqp}");
            let most = assert_scaled(&what, &objects, deployment, production);
            if let Some(db) = db {
                let url = setting(&env, &format!("{prefix}_DATABASE_URL"));
                assert!(url.ends_with(&format!("@{cluster_name}-rw:5432/{db}")), "{what}: {url}");
                assert!(created.contains(db), "{overlay}: nothing creates {db}");
                let pool: u64 = setting(&env, &format!("{prefix}_DATABASE_MAX_CONNECTIONS"))
                    .parse()
                    .unwrap();
                connections += pool * most;
            }
        }
        let max: u64 = text(&cluster["spec"]["postgresql"]["parameters"]["max_connections"])
            .parse()
            .unwrap();
        let room = max.saturating_sub(connections);
        assert!(
            room >= 30,
            "{overlay}: pools of {connections} at most, max_connections {max}"
        );

        let ingresses = of_kind(&objects, "Ingress");
        assert_eq!(
            ingresses.len(),
            usize::from(production),
            "{overlay}: an Ingress in production only"
        );
        for ingress in ingresses {
            let tls = &ingress["spec"]["tls"][0];
            assert!(tls["secretName"].is_string(), "the Ingress names its TLS Secret");
            assert_eq!(
                ingress["spec"]["rules"][0]["host"], tls["hosts"][0],
                "the host is served over TLS"
            );
            let web = env_of(container_of(named(&objects, "Deployment", "web")));
            assert_eq!(setting(&web, "WEB_SECURE_COOKIES"), "true", "Secure cookies and HSTS");
        }
    }
}

/// Production: 2 replicas or more, a PDB keeping one, an HPA on CPU; dev: 1, neither. The
/// most instances the Deployment may have.
fn assert_scaled(what: &str, objects: &[Value], deployment: &Value, production: bool) -> u64 {
    let name = &deployment["metadata"]["name"];
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
    let autoscaler = of_kind(objects, "HorizontalPodAutoscaler")
        .into_iter()
        .find(|h| h["spec"]["scaleTargetRef"]["name"] == *name);
    let budget = of_kind(objects, "PodDisruptionBudget")
        .into_iter()
        .find(|b| b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == *name);
    match (autoscaler, budget) {
        (Some(autoscaler), Some(budget)) if production => {
            assert!(replicas >= 2, "{what}: {replicas} replicas");
            assert_eq!(budget["spec"]["minAvailable"], 1, "{what}: PDB");
            assert!(
                autoscaler["spec"]["minReplicas"].as_u64().unwrap() >= 2,
                "{what}: HPA minimum"
            );
            assert_eq!(
                autoscaler["spec"]["metrics"][0]["resource"]["name"], "cpu",
                "{what}: HPA metric"
            );
            autoscaler["spec"]["maxReplicas"].as_u64().unwrap()
        }
        (None, None) if !production => {
            assert_eq!(replicas, 1, "{what}: replicas");
            replicas
        }
        (autoscaler, budget) => panic!(
            "{what}: HPA {}, PDB {} (both in production, neither in dev)",
            autoscaler.is_some(),
            budget.is_some()
        ),
    }
}
