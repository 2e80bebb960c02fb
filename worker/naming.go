package worker

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aciworker/aciworker/aci"
)

// Container group and deployment record names must be exactly what
// prefect-azure makes, so that a pool can switch between the two workers and
// each recognises (and cleans up) the other's groups.

// groupNameBudget is prefect-azure's room for the slug plus the run id: the
// deployment record "prefect-" + slug + "-" + id must fit ARM's 64 characters.
const groupNameBudget = 55

// fallbackSlug replaces a flow name with nothing usable in it (e.g. only
// characters python-slugify transliterates but this port does not), because
// a group name may not start with '-'.
const fallbackSlug = "flow"

var (
	slugDisallowed = regexp.MustCompile(`[^a-zA-Z0-9-]+`)
	slugDashes     = regexp.MustCompile(`-{2,}`)
	slugNumbers    = regexp.MustCompile(`(\d),(\d)`)
)

// slugify ports python-slugify's slugify(text, max_length=n,
// regex_pattern=r"[^a-zA-Z0-9-]+") as prefect-azure calls it. Latin letters
// with accents and the common ligatures are transliterated like unidecode;
// other scripts become separators (unidecode would spell them in Latin).
func slugify(text string, maxLength int) string {
	text = strings.ReplaceAll(text, "'", "-")
	text = transliterate(text)
	text = strings.ToLower(text)
	// python-slugify removes the comma between digits ("1,000" -> "1000");
	// applied twice because matches overlap ("1,2,3").
	text = slugNumbers.ReplaceAllString(text, "$1$2")
	text = slugNumbers.ReplaceAllString(text, "$1$2")
	text = slugDisallowed.ReplaceAllString(text, "-")
	text = strings.Trim(slugDashes.ReplaceAllString(text, "-"), "-")
	if maxLength > 0 && len(text) >= maxLength {
		text = strings.Trim(text[:maxLength], "-")
	}
	return text
}

// latin maps accented Latin letters to unidecode's ASCII spelling.
var latin = func() map[rune]string {
	m := map[rune]string{}
	add := func(ascii string, letters string) {
		for _, r := range letters {
			m[r] = ascii
		}
	}
	add("A", "ÀÁÂÃÄÅĀĂĄ")
	add("a", "àáâãäåāăą")
	add("C", "ÇĆĈĊČ")
	add("c", "çćĉċč")
	add("D", "ĎĐÐ")
	add("d", "ďđð")
	add("E", "ÈÉÊËĒĔĖĘĚ")
	add("e", "èéêëēĕėęě")
	add("G", "ĜĞĠĢ")
	add("g", "ĝğġģ")
	add("H", "ĤĦ")
	add("h", "ĥħ")
	add("I", "ÌÍÎÏĨĪĬĮİ")
	add("i", "ìíîïĩīĭįı")
	add("J", "Ĵ")
	add("j", "ĵ")
	add("K", "Ķ")
	add("k", "ķ")
	add("L", "ĹĻĽĿŁ")
	add("l", "ĺļľŀł")
	add("N", "ÑŃŅŇ")
	add("n", "ñńņň")
	add("O", "ÒÓÔÕÖØŌŎŐ")
	add("o", "òóôõöøōŏő")
	add("R", "ŔŖŘ")
	add("r", "ŕŗř")
	add("S", "ŚŜŞŠ")
	add("s", "śŝşš")
	add("T", "ŢŤŦ")
	add("t", "ţťŧ")
	add("U", "ÙÚÛÜŨŪŬŮŰŲ")
	add("u", "ùúûüũūŭůűų")
	add("W", "Ŵ")
	add("w", "ŵ")
	add("Y", "ÝŶŸ")
	add("y", "ýÿŷ")
	add("Z", "ŹŻŽ")
	add("z", "źżž")
	m['Æ'], m['æ'] = "AE", "ae"
	m['Œ'], m['œ'] = "OE", "oe"
	m['ß'] = "ss"
	m['Þ'], m['þ'] = "Th", "th"
	return m
}()

func transliterate(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(r)
		} else if a, ok := latin[r]; ok {
			b.WriteString(a)
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// GroupName is the container group prefect-azure creates for a flow run:
// slugify(flow name, max_length=55-len(id)) + "-" + id, lower-cased.
func GroupName(flowName, flowRunID string) string {
	slug := slugify(flowName, groupNameBudget-len(flowRunID))
	if slug == "" {
		slug = fallbackSlug
	}
	return strings.ToLower(slug + "-" + flowRunID)
}

// DeploymentName is the ARM deployment record that creates a group.
func DeploymentName(group string) string { return "prefect-" + group }

// PID is the flow run's infrastructure_pid, "flow_run_id:container_group_name".
func PID(flowRunID, group string) string { return flowRunID + ":" + group }

// ParsePID splits an infrastructure_pid the way prefect-azure's
// kill_infrastructure does (exactly one ':'), and also checks that it names
// this flow run and a valid container group, so that a pid written by
// another infrastructure type is never taken for one of ours.
func ParsePID(pid, flowRunID string) (group string, err error) {
	parts := strings.Split(pid, ":")
	if len(parts) != 2 {
		return "", fmt.Errorf("invalid infrastructure_pid %q: expected 'flow_run_id:container_group_name'", pid)
	}
	if flowRunID != "" && !strings.EqualFold(parts[0], flowRunID) {
		return "", fmt.Errorf("invalid infrastructure_pid %q: it names flow run %q, not %q", pid, parts[0], flowRunID)
	}
	if err := aci.ValidateGroupName(parts[1]); err != nil {
		return "", fmt.Errorf("invalid infrastructure_pid %q: %w", pid, err)
	}
	return parts[1], nil
}
