#!/usr/bin/env python3
"""The Python half of deploy/check.sh (PyYAML and jsonschema).

    checks.py compose docker-compose.yml .env.example deploy/schemas/compose-spec.json
    checks.py metrics METRICS.txt REGISTRY.rs RULES.yml DASHBOARD.json
    checks.py configmaps RENDERED.yaml OUTDIR     (writes each viral.toml found)

Each prints what it checked and exits 1 with a message naming the file and the problem.
"""
import json
import os
import re
import sys

import yaml

failures = []


def fail(msg):
    failures.append(msg)
    print("  FAIL " + msg, file=sys.stderr)


def done(what):
    if failures:
        print(f"{what}: {len(failures)} problem(s)", file=sys.stderr)
        sys.exit(1)
    print(f"{what}: ok")


# ---------------------------------------------------------------- compose
def compose(path, env_example, schema_path):
    import jsonschema

    with open(path) as f:
        text = f.read()
    doc = yaml.safe_load(text)
    with open(schema_path) as f:
        schema = json.load(f)
    # The compose-spec schema validates the file as written (before interpolation), as
    # `docker compose config` does first.
    for e in sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path)):
        fail(f"{path}: {'/'.join(map(str, e.path)) or '(top)'}: {e.message[:300]}")

    services = doc.get("services", {})
    volumes = doc.get("volumes", {}) or {}
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            if dep not in services:
                fail(f"{path}: service {name} depends on unknown service {dep}")
                continue
            cond = spec.get("condition", "service_started")
            hc = services[dep].get("healthcheck") or {}
            if cond == "service_healthy" and (not hc.get("test") or hc.get("disable")):
                fail(f"{path}: {name} waits for {dep} to be healthy, but {dep} has no healthcheck")
            if cond == "service_completed_successfully" and services[dep].get("restart", "no") not in ("no", '"no"'):
                fail(f"{path}: {name} waits for {dep} to complete, but {dep} restarts ({services[dep].get('restart')})")
        for m in svc.get("volumes", []) or []:
            if isinstance(m, str):
                src = m.split(":", 1)[0]
                kind = "bind" if src.startswith((".", "/")) else "volume"
                m = {"type": kind, "source": src}
            if m.get("type") == "volume" and m.get("source") and m["source"] not in volumes:
                fail(f"{path}: {name} mounts undeclared named volume {m['source']}")
            if m.get("type") == "bind":
                src = m.get("source", "")
                if "${" in src:  # a user-supplied file (e.g. the posts to replay)
                    continue
                full = os.path.join(os.path.dirname(os.path.abspath(path)), src)
                if not os.path.exists(full):
                    fail(f"{path}: {name} bind-mounts {src}, which does not exist")
        if "build" in svc or str(svc.get("image", "")).startswith("${VIRAL_IMAGE"):
            if not svc.get("read_only") or "ALL" not in (svc.get("cap_drop") or []):
                fail(f"{path}: viral service {name} should be read_only with cap_drop [ALL]")
        # Nothing here authenticates (Kafka plaintext, Scylla, the API, Prometheus…): a
        # published port is for this machine only.
        for port in svc.get("ports", []) or []:
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            if host_ip != "127.0.0.1":
                fail(f"{path}: {name} publishes {port!r} beyond 127.0.0.1 (bind it to 127.0.0.1:…)")
        command = " ".join(map(str, svc.get("command", []) or [])) if isinstance(svc.get("command"), list) else str(svc.get("command", ""))
        if "--web.enable-lifecycle" in command:
            fail(f"{path}: {name} enables Prometheus's lifecycle API (anyone reaching it can shut it down)")
    grafana_env = (services.get("grafana", {}) or {}).get("environment", {}) or {}
    if str(grafana_env.get("GF_AUTH_ANONYMOUS_ENABLED", "")).lower() != "false":
        fail(f"{path}: grafana must set GF_AUTH_ANONYMOUS_ENABLED: \"false\"")
    if not re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", str(grafana_env.get("GF_SECURITY_ADMIN_PASSWORD", ""))):
        fail(f"{path}: grafana's GF_SECURITY_ADMIN_PASSWORD must be ${{GRAFANA_ADMIN_PASSWORD:?…}} (required, no default)")
    # Every variable the file uses is documented in .env.example, and the other way round.
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    with open(env_example) as f:
        documented = {l.split("=", 1)[0].strip() for l in f if re.match(r"^[A-Z0-9_]+=", l)}
    for v in sorted(used - documented):
        fail(f"{env_example}: {v} (used by {path}) is not documented")
    for v in sorted(documented - used):
        fail(f"{env_example}: {v} is not used by {path}")
    done(f"{path}: compose-spec schema, depends_on, volumes, mounts, .env.example ({len(services)} services)")


# ---------------------------------------------------------------- metrics
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "and", "or", "unless", "atan2", "inf", "nan", "start", "end", "le",
}
# Series Prometheus makes itself, not the services.
BUILTIN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}


def exported_names(metrics_text):
    """Every series name a /metrics scrape (Prometheus or OpenMetrics text) can yield,
    including families that have no sample yet (their # TYPE line)."""
    names = set()
    for line in metrics_text.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)", line)
        if m:
            name, kind = m.groups()
            if kind == "counter":
                names |= {name + "_total", name + "_created"}
            elif kind in ("histogram", "gaugehistogram"):
                names |= {name + "_bucket", name + "_sum", name + "_count", name + "_created"}
            elif kind == "summary":
                names |= {name, name + "_sum", name + "_count"}
            else:
                names.add(name)
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
        if m:
            names.add(m.group(1))
    return names


def referenced_metrics(expr):
    """The metric names a PromQL expression reads (Grafana variables allowed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\$\{?[A-Za-z_]\w*\}?", "1m", e)            # $window, ${datasource}
    e = re.sub(r"\{[^{}]*\}", "", e)                       # label matchers
    e = re.sub(r"\[[^\[\]]*\]", "", e)                     # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word in PROMQL_WORDS or word.lower() in PROMQL_WORDS:
            continue
        if re.fullmatch(r"[0-9.]+[smhdwy]?", word):
            continue
        names.add(word)
    return names


def registered_names(registry_path):
    """Series names of every metric registered in viral-runtime's metrics.rs. prometheus-client
    leaves a family out of the exposition until it has a sample, and a few (dead letters,
    stage restarts) only get one on Kafka; for those the registration is the evidence."""
    with open(registry_path) as f:
        src = f.read()
    types = dict(re.findall(r"^\s*pub (\w+): (.+),$", src, re.M))
    prefix = re.search(r'Registry::with_prefix\("(\w+)"\)', src).group(1)
    text = []
    for name, field in re.findall(r'register\(\s*"(\w+)",\s*"[^"]*",\s*m\.(\w+)\.clone\(\)', src):
        t = types.get(field, "")
        kind = "histogram" if "Histogram" in t else "counter" if "Counter" in t else "gauge" if "Gauge" in t else None
        if kind is None:
            fail(f"{registry_path}: cannot tell the type of metric {name} ({t!r})")
            continue
        text.append(f"# TYPE {prefix}_{name} {kind}")
    if not text:
        fail(f"{registry_path}: no registered metric found")
    return exported_names("\n".join(text))


def metrics(metrics_path, registry_path, rules_path, dashboard_path):
    with open(metrics_path) as f:
        exported = exported_names(f.read())
    if not any(n.startswith("viral_") for n in exported):
        fail(f"{metrics_path}: no viral_ metric in the scrape")
    registered = registered_names(registry_path)
    for n in sorted(exported - registered):
        if n.startswith("viral_") and not n.endswith("_created"):
            fail(f"{registry_path}: {n} is exported but its registration was not found (parser out of date?)")
    known = exported | registered | BUILTIN
    only_registered = set()
    checked = 0

    with open(rules_path) as f:
        rules = yaml.safe_load(f)
    if not isinstance(rules, dict) or not rules.get("groups"):
        fail(f"{rules_path}: no rule groups")
        rules = {"groups": []}
    for g in rules["groups"]:
        for r in g.get("rules", []):
            if "record" in r:
                known.add(r["record"])
    for g in rules["groups"]:
        for r in g.get("rules", []):
            name = r.get("alert") or r.get("record")
            if not name or not r.get("expr"):
                fail(f"{rules_path}: group {g.get('name')}: a rule without alert/record name or expr")
                continue
            if "alert" in r:
                if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                    fail(f"{rules_path}: {name}: labels.severity must be critical, warning or info")
                for a in ("summary", "description"):
                    if not r.get("annotations", {}).get(a):
                        fail(f"{rules_path}: {name}: annotation {a} missing")
            for metric in sorted(referenced_metrics(str(r["expr"]))):
                checked += 1
                if metric not in known:
                    fail(f"{rules_path}: {name} uses {metric}, which the services do not export")
                elif metric not in exported | BUILTIN:
                    only_registered.add(metric)

    with open(dashboard_path) as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            fail(f"{dashboard_path}: not JSON: {e}")
            done("metrics")
    exprs = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            exprs.append((f"panel {p.get('title')!r}", t.get("expr", "")))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"annotation {a.get('name')!r}", a["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            inner = re.match(r"label_values\((.*),\s*\w+\)$", q)
            exprs.append((f"variable {v.get('name')!r}", inner.group(1) if inner else q))
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        fail(f"{dashboard_path}: panel ids are not unique")
    if not dash.get("uid") or not dash.get("title"):
        fail(f"{dashboard_path}: uid and title are required")
    if not exprs:
        fail(f"{dashboard_path}: no queries")
    for where, expr in exprs:
        for metric in sorted(referenced_metrics(expr)):
            checked += 1
            if metric not in known:
                fail(f"{dashboard_path}: {where} uses {metric}, which the services do not export")
            elif metric not in exported | BUILTIN:
                only_registered.add(metric)
    if only_registered:
        print("  registered in metrics.rs, no sample in the standalone run (Kafka-only): "
              + ", ".join(sorted(only_registered)))
    done(f"{rules_path} + {dashboard_path}: {checked} metric references against {len(exported)} exported series names")


# ---------------------------------------------------------------- configmaps
def configmaps(rendered, outdir):
    n = 0
    with open(rendered) as f:
        for doc in yaml.safe_load_all(f):
            if doc and doc.get("kind") == "ConfigMap" and "viral.toml" in (doc.get("data") or {}):
                n += 1
                with open(os.path.join(outdir, f"{doc['metadata']['name']}.toml"), "w") as out:
                    out.write(doc["data"]["viral.toml"])
    if n == 0:
        fail(f"{rendered}: no ConfigMap with viral.toml")
    done(f"{rendered}: {n} viral.toml extracted")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"compose": compose, "metrics": metrics, "configmaps": configmaps}[cmd](*args)
