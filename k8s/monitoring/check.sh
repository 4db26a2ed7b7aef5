#!/usr/bin/env bash
# Checks k8s/monitoring:
#   - alerts.rules.yaml with `promtool check rules`, its unit tests (alerts.test.yaml) with
#     `promtool test rules`, and that components/monitoring/prometheusrule.yaml copies its groups;
#   - dashboard.json: JSON, schemaVersion 36+, the datasource/job/instance variables, every panel
#     on ${datasource}, every selector filtered by job="$job", instance=~"$instance", every range
#     $__rate_interval;
#   - that every metric the rules and the dashboard name is one docs/metrics.md lists (or `up`);
#   - with a Prometheus URL, that Prometheus parses every dashboard query: each one, with $job,
#     $instance and $__rate_interval replaced (sasmint, .*, 1m), goes to URL/api/v1/query and must
#     answer status "success" (a query of absent series still does).
#
#   k8s/monitoring/check.sh [PROM_URL]
#
# Needs promtool (Debian's prometheus package), python3 and, with a URL, curl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
k8s="$(dirname "$here")"
root="$(dirname "$k8s")"
url="${1:-}"
url="${url%/}"

for tool in promtool python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "monitoring: $tool is missing (promtool: apt-get install prometheus)" >&2
    exit 2
  fi
done
if [ -n "$url" ] && ! command -v curl >/dev/null; then
  echo "monitoring: curl is missing (needed with a Prometheus URL)" >&2
  exit 2
fi

failed=0
fail() { echo "monitoring: $*" >&2; failed=1; }

# 1. The rules and their tests.
out="$(promtool check rules "$here/alerts.rules.yaml" 2>&1)" || { echo "$out" >&2; fail "promtool check rules failed"; }
out="$(cd "$here" && promtool test rules alerts.test.yaml 2>&1)" || { echo "$out" >&2; fail "promtool test rules failed"; }

# 2. The PrometheusRule's spec.groups: alerts.rules.yaml from `groups:` on, indented by two.
rule="$k8s/components/monitoring/prometheusrule.yaml"
if ! diff -u --label alerts.rules.yaml --label prometheusrule.yaml \
    <(sed -n '/^groups:/,$p' "$here/alerts.rules.yaml") \
    <(sed -n '/^  groups:/,$p' "$rule" | sed 's/^  //') >&2; then
  fail "$rule does not copy alerts.rules.yaml's groups; regenerate its spec with" \
       "sed -n '/^groups:/,\$p' k8s/monitoring/alerts.rules.yaml | sed 's/^\\(.\\)/  \\1/'"
fi

# 3. The dashboard, the metric names; with a URL, every query through Prometheus.
queries="$(mktemp)"
trap 'rm -f "$queries"' EXIT
python3 - "$here/dashboard.json" "$here/alerts.rules.yaml" "$root/docs/metrics.md" "$queries" <<'EOF' || failed=1
import json, re, sys

dashboard_file, rules_file, metrics_doc, queries_file = sys.argv[1:5]
problems = []

# The metrics docs/metrics.md lists: backticked names in its tables' first cells; a histogram's
# series are its _bucket, _sum and _count.
known = {"up"}
for line in open(metrics_doc, encoding="utf-8"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if not line.startswith("|") or len(cells) < 2:
        continue
    for name in re.findall(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", cells[0]):
        if cells[1] == "histogram":
            known.update(name + s for s in ("_bucket", "_sum", "_count"))
        else:
            known.add(name)


def metric_names(expr):
    """Names selected with {...}, and any known metric used bare (without a selector)."""
    text = re.sub(r'"(\\.|[^"\\])*"', '""', expr)
    selected = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", text)
    bare = [m.group(1) for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?![a-zA-Z0-9_:]|\s*[{(])", text)
            if m.group(1) in known]
    return selected, bare

try:
    dash = json.load(open(dashboard_file, encoding="utf-8"))
except ValueError as e:
    print(f"monitoring: dashboard.json is not JSON: {e}", file=sys.stderr)
    sys.exit(1)

if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
    problems.append(f"schemaVersion {dash.get('schemaVersion')!r} is not 36 or later")
variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
DS_UID = "${datasource}"
ds = variables.get("datasource", {})
if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    problems.append("templating: no `datasource` variable of type datasource, query prometheus")

def query_of(v):
    q = v.get("query")
    return q.get("query") if isinstance(q, dict) else q

job = variables.get("job", {})
if job.get("type") != "query" or query_of(job) != "label_values(sasmint_build_info, job)" \
        or (job.get("datasource") or {}).get("uid") != DS_UID:
    problems.append("templating: `job` must be a query variable label_values(sasmint_build_info, job) on ${datasource}")
inst = variables.get("instance", {})
if inst.get("type") != "query" or not inst.get("multi") or not inst.get("includeAll") \
        or "instance" not in (query_of(inst) or "") or (inst.get("datasource") or {}).get("uid") != DS_UID:
    problems.append("templating: `instance` must be a multi-select query variable with All, on ${datasource}")

def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))

queries = []
ids = set()
for p in walk(dash.get("panels", [])):
    where = f"panel {p.get('id')} {p.get('title')!r}"
    if p.get("id") in ids:
        problems.append(f"{where}: duplicate id")
    ids.add(p.get("id"))
    if "gridPos" not in p:
        problems.append(f"{where}: no gridPos")
    if p.get("type") == "row":
        continue
    if (p.get("datasource") or {}).get("uid") != DS_UID:
        problems.append(f"{where}: datasource is not ${{datasource}}")
    targets = p.get("targets") or []
    if not targets:
        problems.append(f"{where}: no targets")
    for t in targets:
        expr = t.get("expr", "")
        if (t.get("datasource") or {"uid": DS_UID}).get("uid") != DS_UID:
            problems.append(f"{where} {t.get('refId')}: target datasource is not ${{datasource}}")
        if not expr.strip():
            problems.append(f"{where} {t.get('refId')}: no expr")
            continue
        for sel in re.findall(r"\{([^{}]*)\}", expr):
            if 'job="$job"' not in sel or 'instance=~"$instance"' not in sel:
                problems.append(f'{where}: selector {{{sel}}} lacks job="$job", instance=~"$instance"')
        for window in re.findall(r"\[([^\]]*)\]", expr):
            if window != "$__rate_interval":
                problems.append(f"{where}: range [{window}] is not [$__rate_interval]")
        selected, bare = metric_names(expr)
        for name in selected:
            if name not in known:
                problems.append(f"{where}: metric {name} is not in docs/metrics.md")
        for name in bare:
            problems.append(f"{where}: metric {name} without a selector (no job/instance filter)")
        queries.append((f"{where} {t.get('refId')}", expr))

# The rules' metrics (the selectors in the file's exprs).
text = re.sub(r"\{\{.*?\}\}", "", open(rules_file, encoding="utf-8").read())  # not the templates
for name in sorted(set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", text))):
    if name not in known:
        problems.append(f"alerts.rules.yaml: metric {name} is not in docs/metrics.md")

with open(queries_file, "w", encoding="utf-8") as f:
    for where, expr in queries:
        f.write(json.dumps({"where": where, "expr": expr}) + "\n")
for p in problems:
    print(f"monitoring: dashboard.json: {p}" if not p.startswith("alerts") else f"monitoring: {p}",
          file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
nqueries="$(wc -l <"$queries")"

mode="offline"
if [ -n "$url" ]; then
  mode="parsed by $url"
  python3 - "$url" "$queries" <<'EOF' || failed=1
import json, re, subprocess, sys

url, queries_file = sys.argv[1:3]
values = {"job": "sasmint", "instance": ".*", "__rate_interval": "1m", "__interval": "1m",
          "__range": "1h", "datasource": "prometheus"}
def ask(expr):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-G", f"{url}/api/v1/query",
                        "--data-urlencode", f"query={expr}"], capture_output=True, text=True)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"status": "no answer", "error": (r.stderr or r.stdout).strip()[:300]}

answer = ask("1")
if answer.get("status") != "success":
    print(f"monitoring: {url} does not answer as a Prometheus: {answer.get('error', answer.get('status'))}",
          file=sys.stderr)
    sys.exit(1)
bad = 0
for line in open(queries_file, encoding="utf-8"):
    q = json.loads(line)
    unknown = []
    def sub(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            unknown.append(name)
            return m.group(0)
        return values[name]
    expr = re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, q["expr"])
    if unknown:
        print(f"monitoring: {q['where']}: unknown variables {unknown}: {q['expr']}", file=sys.stderr)
        bad += 1
        continue
    answer = ask(expr)
    if answer.get("status") != "success":
        print(f"monitoring: {q['where']}: {answer.get('errorType', '')} {answer.get('error', answer.get('status'))}\n"
              f"  query: {expr}", file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
EOF
fi

alerts="$(grep -E '^ *- alert: ' "$here/alerts.rules.yaml" | awk '{print $3}' | sort -u | wc -l)"
rules="$(grep -cE '^ *- (alert|record): ' "$here/alerts.rules.yaml")"
tests="$(grep -cE '^ *- eval_time: ' "$here/alerts.test.yaml")"
if [ "$failed" -ne 0 ]; then
  echo "monitoring: FAILED (see above)" >&2
  exit 1
fi
echo "monitoring: $alerts alerts ($rules rules), $tests rule tests, $nqueries dashboard queries ok ($mode)"
