package deploy

// Reading PromQL out of the dashboard and the alerts, and checking it
// against what a node exports.

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/VictoriaMetrics/metricsql"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// exported maps each series name a scrape holds to its label names. A
// histogram X gives X_bucket (with le), X_sum and X_count; a summary X
// gives X (with quantile), X_sum and X_count.
type exported map[string]map[string]bool

func parseExposition(r io.Reader) (exported, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	ex := exported{}
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		set := ex[name]
		if set == nil {
			set = map[string]bool{}
			ex[name] = set
		}
		for _, l := range labels {
			set[l.GetName()] = true
		}
		for _, l := range extra {
			set[l] = true
		}
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m.GetLabel(), "le")
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			case dto.MetricType_SUMMARY:
				add(name, m.GetLabel(), "quantile")
				add(name+"_sum", m.GetLabel())
				add(name+"_count", m.GetLabel())
			default:
				add(name, m.GetLabel())
			}
		}
	}
	return ex, nil
}

// targetLabels are attached by Prometheus to every scraped series.
var targetLabels = []string{"job", "instance"}

// synthetic are series Prometheus makes itself for each target.
var synthetic = map[string]bool{"up": true}

// promqlFuncs are PromQL's functions (Prometheus 2.x and 3.x); metricsql
// parses a superset (MetricsQL), so anything else is refused here.
var promqlFuncs = setOf(
	"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
	"avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
	"count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
	"delta", "deriv", "double_exponential_smoothing", "exp", "floor", "histogram_avg",
	"histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
	"histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate",
	"label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
	"max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
	"present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn",
	"sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt",
	"stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
	"vector", "year",
)

var promqlAggrs = setOf("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
	"count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// checkExpr parses one PromQL expression and returns what is wrong with it
// against ex: a parse error, a function PromQL lacks, a range function
// without a range, a metric the node does not export, a label the metric
// does not have.
func checkExpr(expr string, ex exported) []string {
	e, err := metricsql.Parse(expr)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems, modLabels []string
	labelsSeen := map[string]bool{}
	for _, l := range targetLabels {
		labelsSeen[l] = true
	}
	metricsql.VisitAll(e, func(x metricsql.Expr) {
		switch x := x.(type) {
		case *metricsql.MetricExpr:
			for _, group := range x.LabelFilterss {
				var name string
				var filters []metricsql.LabelFilter
				for _, f := range group {
					if f.Label == "__name__" && !f.IsRegexp && !f.IsNegative {
						name = f.Value
					} else {
						filters = append(filters, f)
					}
				}
				labels, ok := ex[name]
				switch {
				case name == "":
					problems = append(problems, "a selector without a metric name")
					continue
				case synthetic[name]:
					labels = nil
				case !ok:
					problems = append(problems, fmt.Sprintf("metric %s is not exported", name))
					continue
				}
				for l := range labels {
					labelsSeen[l] = true
				}
				for _, f := range filters {
					if !labels[f.Label] && !slices.Contains(targetLabels, f.Label) {
						problems = append(problems, fmt.Sprintf("metric %s has no label %q", name, f.Label))
					}
				}
			}
		case *metricsql.FuncExpr:
			if !promqlFuncs[x.Name] {
				problems = append(problems, fmt.Sprintf("%s() is not a PromQL function", x.Name))
			}
			if i := metricsql.GetRollupArgIdx(x); i >= 0 && x.Name != "timestamp" && i < len(x.Args) {
				if r, ok := x.Args[i].(*metricsql.RollupExpr); !ok || r.Window == nil {
					problems = append(problems, fmt.Sprintf("%s() needs a range vector (x[5m]); Prometheus refuses it without one", x.Name))
				}
			}
		case *metricsql.AggrFuncExpr:
			if !promqlAggrs[x.Name] {
				problems = append(problems, fmt.Sprintf("%s() is not a PromQL aggregation", x.Name))
			}
			modLabels = append(modLabels, x.Modifier.Args...)
		case *metricsql.BinaryOpExpr:
			modLabels = append(modLabels, x.GroupModifier.Args...)
			modLabels = append(modLabels, x.JoinModifier.Args...)
		}
	})
	for _, l := range modLabels {
		if !labelsSeen[l] {
			problems = append(problems, fmt.Sprintf("by/on/group label %q is on none of the metrics used", l))
		}
	}
	return problems
}

// grafanaVar matches a dashboard variable: $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// grafanaBuiltins are Grafana's own interval variables; a range of 5m
// stands in for them.
var grafanaBuiltins = setOf("__rate_interval", "__interval", "__range")

// expandGrafana replaces dashboard variables with values PromQL accepts:
// builtins with 5m, the dashboard's own variables (known) with .+ (they are
// used in =~ matchers). An unknown variable is an error: Grafana would send
// it as is.
func expandGrafana(expr string, known map[string]bool) (string, error) {
	var bad []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		switch {
		case grafanaBuiltins[name]:
			return "5m"
		case known[name]:
			return ".+"
		}
		bad = append(bad, m)
		return m
	})
	if len(bad) > 0 {
		sort.Strings(bad)
		return "", fmt.Errorf("unknown dashboard variable(s) %s", strings.Join(slices.Compact(bad), ", "))
	}
	return out, nil
}
