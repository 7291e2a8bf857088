// Package config binds every setting of a subcommand to a command-line flag and a
// KOMMERCE_* environment variable, with one documented default that works locally.
//
// Precedence is flag > environment > default, so a Helm chart can set the environment
// while an operator on call can still override one value on the command line. Values
// are validated at start-up: a bad value stops the process with a message that names
// the flag, the variable and the accepted values, instead of failing later at first use.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrHelp is returned by Parse when -h or --help was given; the usage has already
// been written and the caller should exit 0.
var ErrHelp = flag.ErrHelp

// UsageError is a bad command line or setting. Callers exit with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// setting is one registered flag with its environment variable.
type setting struct {
	name    string
	env     string
	def     string
	usage   string
	allowed []string
	secret  bool
	check   func(string) error
	set     func(string) error
}

// Set is the settings of one subcommand.
type Set struct {
	command  string
	synopsis string
	fs       *flag.FlagSet
	getenv   func(string) string
	settings []*setting
	explicit map[string]string // raw values given on the command line
}

// NewSet starts the settings of a subcommand. synopsis is the first paragraph of its
// --help; getenv is injected so tests never touch the process environment.
func NewSet(command, synopsis string, getenv func(string) string) *Set {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return &Set{command: command, synopsis: synopsis, fs: fs, getenv: getenv, explicit: map[string]string{}}
}

// Option adjusts one setting.
type Option func(*setting)

// Enum restricts a setting to the listed values.
func Enum(values ...string) Option { return func(s *setting) { s.allowed = values } }

// Secret hides the value in usage output and error messages.
func Secret() Option { return func(s *setting) { s.secret = true } }

// Check adds a validation run on the final value.
func Check(fn func(string) error) Option { return func(s *setting) { s.check = fn } }

func (s *Set) add(name, env, def, usage string, isBool bool, set func(string) error, opts []Option) {
	st := &setting{name: name, env: env, def: def, usage: usage, set: set}
	for _, o := range opts {
		o(st)
	}
	s.settings = append(s.settings, st)
	// The command line is only recorded here; values are converted in Parse once the
	// environment has been read, so that precedence does not depend on flag order.
	s.fs.Var(capture{name: name, into: s.explicit, isBool: isBool}, name, usage)
}

// String binds a string setting.
func (s *Set) String(p *string, name, env, def, usage string, opts ...Option) {
	s.add(name, env, def, usage, false, func(v string) error { *p = v; return nil }, opts)
}

// Int binds an integer setting.
func (s *Set) Int(p *int, name, env string, def int, usage string, opts ...Option) {
	s.add(name, env, strconv.Itoa(def), usage, false, func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("want a whole number")
		}
		*p = n
		return nil
	}, opts)
}

// Bool binds a boolean setting; the flag may be given without a value.
func (s *Set) Bool(p *bool, name, env string, def bool, usage string, opts ...Option) {
	s.add(name, env, strconv.FormatBool(def), usage, true, func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("want true or false")
		}
		*p = b
		return nil
	}, opts)
}

// Duration binds a duration setting such as 30s or 5m.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string, opts ...Option) {
	s.add(name, env, def.String(), usage, false, func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return errors.New("want a duration such as 500ms, 30s or 5m")
		}
		if d < 0 {
			return errors.New("must not be negative")
		}
		*p = d
		return nil
	}, opts)
}

// Parse applies defaults, then the environment, then the command line, and validates
// the result. It returns the positional arguments left after the flags, ErrHelp after
// printing usage to w, or a *UsageError naming the bad setting.
func (s *Set) Parse(args []string, w io.Writer) ([]string, error) {
	// Flags may come before or after positional arguments (`migrate up --log-level
	// debug`), so parsing resumes after each positional one.
	var positional []string
	for {
		if err := s.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				s.Usage(w)
				return nil, ErrHelp
			}
			return nil, Usagef("%s: %v (see kommerce %s --help)", s.command, err, strings.Fields(s.command)[0])
		}
		args = s.fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	for _, st := range s.settings {
		value, source := st.def, "default"
		if v := s.getenv(st.env); st.env != "" && v != "" {
			value, source = v, "environment"
		}
		if v, ok := s.explicit[st.name]; ok {
			value, source = v, "command line"
		}
		if err := st.set(value); err != nil {
			return nil, st.fail(value, source, err)
		}
		if err := st.validate(value); err != nil {
			return nil, st.fail(value, source, err)
		}
	}
	return positional, nil
}

func (st *setting) validate(value string) error {
	if len(st.allowed) > 0 && !slices.Contains(st.allowed, value) {
		return fmt.Errorf("accepted values are %s", strings.Join(st.allowed, ", "))
	}
	if st.check != nil {
		return st.check(value)
	}
	return nil
}

func (st *setting) fail(value, source string, err error) error {
	shown := strconv.Quote(value)
	if st.secret {
		shown = "(hidden)"
	}
	names := "--" + st.name
	if st.env != "" {
		names += " / " + st.env
	}
	return Usagef("invalid %s %s (from %s): %v", names, shown, source, err)
}

// Usage writes the synopsis and every setting with its variable and default.
func (s *Set) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: kommerce %s\n\n%s\n\nFlags and environment variables (flag > environment > default):\n", s.command, strings.TrimSpace(s.synopsis))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, st := range s.settings {
		def := st.def
		if def == "" {
			def = `""`
		}
		usage := st.usage
		if len(st.allowed) > 0 {
			usage += " (" + strings.Join(st.allowed, "|") + ")"
		}
		env := st.env
		if env == "" {
			env = "-"
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s [default %s]\n", st.name, env, usage, def)
	}
	_ = tw.Flush()
}

// capture records the raw command-line value of a flag so that precedence can be
// resolved after the environment has been read.
type capture struct {
	name   string
	into   map[string]string
	isBool bool
}

func (c capture) String() string     { return "" }
func (c capture) Set(v string) error { c.into[c.name] = v; return nil }
func (c capture) IsBoolFlag() bool   { return c.isBool }

// HostPort checks a listen address such as :8080 or 127.0.0.1:8080.
func HostPort(v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return errors.New("want host:port, for example :8080 or 127.0.0.1:8080")
	}
	return nil
}

// URL returns a check that accepts an absolute URL with one of the given schemes, or
// an empty value when optional is true.
func URL(optional bool, schemes ...string) func(string) error {
	return func(v string) error {
		if v == "" {
			if optional {
				return nil
			}
			return errors.New("is required")
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
			return fmt.Errorf("want a URL starting with %s://", strings.Join(schemes, ":// or "))
		}
		return nil
	}
}

// Brokers checks a comma-separated list of host:port pairs (empty allowed).
func Brokers(v string) error {
	if v == "" {
		return nil
	}
	for _, b := range strings.Split(v, ",") {
		if _, port, err := net.SplitHostPort(strings.TrimSpace(b)); err != nil || port == "" {
			return fmt.Errorf("want comma-separated host:port pairs, %q is not one", b)
		}
	}
	return nil
}

// Positive checks that an integer setting is at least 1.
func Positive(v string) error {
	if n, err := strconv.Atoi(v); err == nil && n < 1 {
		return errors.New("must be at least 1")
	}
	return nil
}
