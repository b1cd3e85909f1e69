#!/usr/bin/python3
"""Checks for the deployment files (Helm chart render, docker-compose.yml).

Everything is checked against proto/streamadmin/config/v1/config.proto, the one
reference for config keys:

  deploycheck.py schema --write|--check   chart's files/config-schema.yaml <-> config.proto
  deploycheck.py manifests FILE...        a `helm template` render (or deploy/k8s/*.yaml)
  deploycheck.py compose FILE             docker-compose.yml

`manifests` and `compose` take --bin-dir DIR: when it holds the service binaries,
each rendered config is also fed to `<service> --config FILE --check-config`
with the environment the container would get (secrets replaced by dummies).

Needs only python3 and python3-yaml (Debian packages).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "proto/streamadmin/config/v1/config.proto")
SCHEMA = os.path.join(ROOT, "deploy/helm/stream-admin/files/config-schema.yaml")

# Service (binary) name -> its top-level config message.
SERVICES = {
    "ingest": "IngestConfig",
    "normalizer": "NormalizerConfig",
    "cdc-bridge": "CdcBridgeConfig",
    "warehouse-sink": "WarehouseSinkConfig",
    "anomaly": "AnomalyConfig",
    "admin": "AdminConfig",
    "views": "ViewsConfig",
}
ENV_PREFIX = "STREAM_ADMIN_"
RESERVED_ENV = {"STREAM_ADMIN_CONFIG"}

SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
           "fixed32", "fixed64", "sfixed32", "sfixed64", "float", "double"}


class Failures:
    def __init__(self):
        self.items = []

    def add(self, where, msg):
        self.items.append(f"{where}: {msg}")

    def report(self, what):
        if self.items:
            for i in self.items:
                print(f"  FAIL {i}")
            print(f"{what}: {len(self.items)} problem(s)")
            return 1
        return 0


# ---------------------------------------------------------------- schema ---

def parse_proto(path=PROTO):
    """message name -> {field: type}, type '[]T' when repeated."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"//[^\n]*", "", text)
    messages = {}
    for m in re.finditer(r"\bmessage\s+(\w+)\s*\{([^{}]*)\}", text):
        fields = {}
        for f in re.finditer(r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*\d+\s*(\[[^\]]*\])?\s*;", m.group(2)):
            fields[f.group(3)] = ("[]" if f.group(1) else "") + f.group(2)
        messages[m.group(1)] = fields
    missing = [m for m in SERVICES.values() if m not in messages]
    if missing:
        raise SystemExit(f"{path}: no message {', '.join(missing)} (update SERVICES in {__file__})")
    return messages


def schema_yaml(messages):
    # Only the messages reachable from a service config.
    keep, todo = set(), list(SERVICES.values())
    while todo:
        m = todo.pop()
        if m in keep:
            continue
        keep.add(m)
        for t in messages[m].values():
            t = t[2:] if t.startswith("[]") else t
            if t in messages:
                todo.append(t)
    out = ["# Generated from proto/streamadmin/config/v1/config.proto by",
           "# deploy/tools/deploycheck.py schema --write. Do not edit by hand.",
           "# The chart checks every rendered service config against it.",
           "services:"]
    out += [f"  {s}: {m}" for s, m in SERVICES.items()]
    out.append("messages:")
    for m in sorted(keep):
        out.append(f"  {m}:")
        for f, t in messages[m].items():
            out.append(f'    {f}: "{t}"')
    out.append("# STREAM_ADMIN_* variables each service accepts (any other one stops it).")
    out.append("env:")
    for s, m in SERVICES.items():
        out.append(f"  {s}:")
        out += [f"    - {n}" for n in sorted(env_names(messages, m) | RESERVED_ENV)]
    return "\n".join(out) + "\n"


def cmd_schema(args):
    want = schema_yaml(parse_proto())
    if args.write:
        with open(SCHEMA, "w", encoding="utf-8") as f:
            f.write(want)
        print(f"wrote {os.path.relpath(SCHEMA, ROOT)}")
        return 0
    have = open(SCHEMA, encoding="utf-8").read() if os.path.exists(SCHEMA) else ""
    if have != want:
        print(f"  FAIL {os.path.relpath(SCHEMA, ROOT)} is out of date with config.proto;"
              " run deploy/tools/deploycheck.py schema --write (then deploy/render-k8s.sh)")
        return 1
    print("chart config schema matches config.proto")
    return 0


# ----------------------------------------------------------- validation ---

def check_value(messages, typ, value, path, fails, where):
    if typ.startswith("[]"):
        if not isinstance(value, list):
            fails.add(where, f"key '{path}': expected a sequence")
            return
        for i, v in enumerate(value):
            check_value(messages, typ[2:], v, f"{path}[{i}]", fails, where)
        return
    if typ in messages:
        if not isinstance(value, dict):
            fails.add(where, f"key '{path}': expected a mapping ({typ})")
            return
        fields = messages[typ]
        for k, v in value.items():
            p = f"{path}.{k}" if path else str(k)
            if k not in fields:
                fails.add(where, f"key '{p}': unknown key of {typ} (known: {', '.join(fields)})")
                continue
            check_value(messages, fields[k], v, p, fails, where)
        return
    ok = True
    if typ == "bool":
        ok = isinstance(value, bool)
    elif typ.startswith(("uint", "fixed")):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif typ.startswith(("int", "sint", "sfixed")):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ in ("float", "double"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif typ in ("string", "bytes"):
        ok = isinstance(value, str)
    if not ok:
        fails.add(where, f"key '{path}': {value!r} is not a {typ}")


def env_names(messages, msg, prefix=ENV_PREFIX):
    """Every STREAM_ADMIN_* variable the service accepts."""
    names = set()
    for f, t in messages[msg].items():
        name = prefix + f.upper()
        base = t[2:] if t.startswith("[]") else t
        if base in messages:
            if not t.startswith("[]"):
                names |= env_names(messages, base, name + "_")
        else:
            names.add(name)
    return names


def check_env_names(messages, service, names, fails, where):
    valid = env_names(messages, SERVICES[service]) | RESERVED_ENV
    for n in names:
        if n.startswith(ENV_PREFIX) and n not in valid:
            fails.add(where, f"environment {n} names no config key of {service}; the service would refuse to start")


def run_check_config(bin_dir, service, config_text, env, fails, where):
    """Runs `<service> --config F --check-config`; returns True when it ran."""
    binary = os.path.join(bin_dir, service)
    if not (bin_dir and os.access(binary, os.X_OK)):
        return False
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(config_text)
        path = f.name
    try:
        clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", **env}
        r = subprocess.run([binary, "--config", path, "--check-config"], env=clean,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fails.add(where, f"{service} --check-config exit {r.returncode}: {(r.stderr or r.stdout).strip()}")
    finally:
        os.unlink(path)
    return True


def report_checked(fails, what, summary, ran):
    """fails.report(what); when clean, prints "<what> ok: <summary>" and how many
    configs the service binaries accepted (`ran` of run_check_config)."""
    rc = fails.report(what)
    if rc == 0:
        extra = f", {ran} config(s) accepted by the service binaries" if ran else \
            " (service binaries not found: --check-config skipped)"
        print(f"{what} ok: {summary}{extra}")
    return rc


# ------------------------------------------------------------ manifests ---

def load_docs(paths):
    docs = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def dummy_env_value(name, entry):
    if "value" in entry:
        return str(entry["value"])
    if name.endswith("_DSN"):
        return f"host=db port=5432 dbname={name.lower()} user=x"  # distinct per variable, as real ones are
    if name.endswith("_SERVERS"):
        return "nats://nats:4222"
    return "dummy"


def cmd_manifests(args):
    messages = parse_proto()
    fails = Failures()
    docs = load_docs(args.files)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    services = by_kind.get("Service", [])
    deployments = [d for d in by_kind.get("Deployment", [])
                   if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") in SERVICES]
    expected = set(args.expect.split(",")) if args.expect else set()
    seen = set()
    ran = 0
    for dep in deployments:
        svc = dep["metadata"]["labels"]["app.kubernetes.io/component"]
        seen.add(svc)
        where = f"Deployment/{dep['metadata']['name']}"
        spec = dep["spec"]["template"]["spec"]
        meta = dep["spec"]["template"]["metadata"]
        if spec.get("enableServiceLinks") is not False:
            fails.add(where, "enableServiceLinks must be false (service links inject STREAM_ADMIN_* variables "
                             "that the services reject)")
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            fails.add(where, "pod securityContext.runAsNonRoot is not true")
        ann = meta.get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/path") != "/metrics":
            fails.add(where, "prometheus.io/scrape|path annotations missing")
        c = spec["containers"][0]
        cmd = (c.get("command") or []) + (c.get("args") or [])
        if not cmd or os.path.basename(cmd[0]) != svc or "--config" not in cmd:
            fails.add(where, f"command {cmd} does not run {svc} --config")
            continue
        cfg_path = cmd[cmd.index("--config") + 1]
        if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
            fails.add(where, "container securityContext.readOnlyRootFilesystem is not true")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", None)):
            p = c.get(probe)
            if not p:
                fails.add(where, f"{probe} missing")
            elif path and p.get("httpGet", {}).get("path") != path:
                fails.add(where, f"{probe} is not httpGet {path}")
        env = {e["name"]: e for e in c.get("env", [])}
        check_env_names(messages, svc, env, fails, where)
        for n, e in env.items():
            if n.endswith("_DSN") and "value" in e:
                fails.add(where, f"{n} is a plain value; DSNs come from a Secret (secretKeyRef)")
        # The config file: from the mounted ConfigMap.
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        config_text = None
        for v in spec.get("volumes", []):
            m = mounts.get(v["name"])
            if not m or "configMap" not in v or not cfg_path.startswith(m["mountPath"].rstrip("/") + "/"):
                continue
            cm = configmaps.get(v["configMap"]["name"])
            key = cfg_path[len(m["mountPath"].rstrip("/")) + 1:]
            if cm is None or key not in cm.get("data", {}):
                fails.add(where, f"config {cfg_path}: ConfigMap {v['configMap']['name']} key {key} not rendered")
            else:
                config_text = cm["data"][key]
        if config_text is None:
            fails.add(where, f"no ConfigMap provides {cfg_path}")
            continue
        try:
            cfg = yaml.safe_load(config_text) or {}
        except yaml.YAMLError as e:
            fails.add(where, f"config is not YAML: {e}")
            continue
        check_value(messages, SERVICES[svc], cfg, "", fails, f"{where} config")
        # The ports the probes and the Service use must be the ones the config listens on.
        http_port = str(cfg.get("server", {}).get("http_listen", "")).rpartition(":")[2]
        grpc_port = str(cfg.get("server", {}).get("grpc_listen", "")).rpartition(":")[2]
        ports = {p.get("name"): str(p["containerPort"]) for p in c.get("ports", [])}
        if ports.get("http") != http_port or ports.get("grpc") != grpc_port:
            fails.add(where, f"container ports {ports} differ from config server.*_listen ({grpc_port}, {http_port})")
        if not any(s["spec"].get("selector", {}).get("app.kubernetes.io/component") == svc for s in services):
            fails.add(where, "no Service selects it")
        run_env = {n: dummy_env_value(n, e) for n, e in env.items() if n.startswith(ENV_PREFIX)}
        if run_check_config(args.bin_dir, svc, config_text, run_env, fails, where):
            ran += 1
    for missing in sorted(expected - seen):
        fails.add("render", f"no Deployment for service {missing}")
    return report_checked(fails, "manifests", f"{len(deployments)} service Deployment(s), {len(docs)} object(s)", ran)


# -------------------------------------------------------------- compose ---

APP_SERVICES = list(SERVICES)
INFRA_SERVICES = ["nats", "postgres", "kafka"]


def interpolate(value, environ):
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, $$."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group(1) or m.group(4), m.group(2), m.group(3)
        v = environ.get(name)
        if op == ":-" and not v:
            return default
        if op == "-" and v is None:
            return default
        return v or ""
    return re.sub(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}|\$(\w+)", sub, value)


def cmd_compose(args):
    messages = parse_proto()
    fails = Failures()
    path = args.file
    base = os.path.dirname(os.path.abspath(path))
    where = os.path.relpath(path, ROOT)
    try:
        doc = yaml.safe_load(open(path, encoding="utf-8"))
    except yaml.YAMLError as e:
        print(f"  FAIL {where}: not YAML: {e}")
        return 1
    svcs = doc.get("services") or {}
    for s in APP_SERVICES + INFRA_SERVICES:
        if s not in svcs:
            fails.add(where, f"service {s} missing")
    ran = 0
    for name, s in svcs.items():
        w = f"{where} service {name}"
        if not s.get("image") and not s.get("build"):
            fails.add(w, "neither image nor build")
        deps = s.get("depends_on") or {}
        for d in (deps if isinstance(deps, list) else deps.keys()):
            if d not in svcs:
                fails.add(w, f"depends_on unknown service {d}")
        build = s.get("build")
        if build:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            df = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            if not os.path.exists(os.path.join(base, ctx, df)):
                fails.add(w, f"build {ctx}/{df} does not exist")
        mounts = {}
        for v in s.get("volumes") or []:
            src, _, rest = (v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}").partition(":")
            target = rest.split(":")[0]
            if src.startswith((".", "/")):
                hp = os.path.join(base, src)
                if not os.path.exists(hp):
                    fails.add(w, f"volume source {src} does not exist")
                mounts[target] = hp
            elif src not in (doc.get("volumes") or {}):
                fails.add(w, f"named volume {src} is not declared under volumes:")
        if name not in SERVICES:
            continue
        if "healthcheck" not in s:
            fails.add(w, "no healthcheck")
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        env = {k: interpolate(str(v), {}) for k, v in env.items()}
        check_env_names(messages, name, env, fails, w)
        cmd = s.get("command") or []
        if isinstance(cmd, str):
            cmd = cmd.split()
        if not cmd or os.path.basename(cmd[0]) != name or "--config" not in cmd:
            fails.add(w, f"command {cmd} does not run {name} --config")
            continue
        cfg_path = cmd[cmd.index("--config") + 1]
        host_cfg = mounts.get(cfg_path)
        if not host_cfg or not os.path.isfile(host_cfg):
            fails.add(w, f"config {cfg_path} is not mounted from a file")
            continue
        text = open(host_cfg, encoding="utf-8").read()
        try:
            cfg = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            fails.add(w, f"{host_cfg} is not YAML: {e}")
            continue
        check_value(messages, SERVICES[name], cfg, "", fails, os.path.relpath(host_cfg, ROOT))
        if run_check_config(args.bin_dir, name, text, {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)},
                            fails, w):
            ran += 1
    return report_checked(fails, "compose", f"{len(svcs)} services ({', '.join(svcs)})", ran)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("schema")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true")
    g.add_argument("--check", action="store_true")
    m = sub.add_parser("manifests")
    m.add_argument("files", nargs="+")
    m.add_argument("--expect", default=",".join(SERVICES), help="comma list of services that must be rendered")
    m.add_argument("--bin-dir", default="")
    c = sub.add_parser("compose")
    c.add_argument("file")
    c.add_argument("--bin-dir", default="")
    args = ap.parse_args()
    return {"schema": cmd_schema, "manifests": cmd_manifests, "compose": cmd_compose}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
