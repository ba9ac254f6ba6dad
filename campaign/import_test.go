package campaign

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/sms"
)

func TestImportReport(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ctx := context.Background()
	require.NoError(t, b.sup.Add(ctx, "+243812345680"))
	long := strings.Repeat("x", 200)
	file := "Phone,Name\n" + // line 1
		"+243812345678,Ana\n" + // 2: kept
		"not-a-number,Bob\n" + // 3: bad number
		"+243 81 234 5678,Ana again\n" + // 4: duplicate of line 2
		"0812345679,Carl\n" + // 5: national format, region CD
		"+243812345680,Dan\n" + // 6: suppressed
		",Eve\n" + // 7: no number
		"+243812345681," + long + "\n" + // 8: rendered text too long
		"\"+243812345682\",\"Fay\tand\nJo\"\n" // 9-10: quoted, tab and newline in a value
	rep, err := b.store.Create(ctx, Definition{ID: "rep", Provider: "conectaline", Message: "Hi {{ name }}!",
		Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}},
		strings.NewReader(file), CreateOptions{ImportOptions: ImportOptions{DefaultRegion: "CD", MaxSegments: 1, Suppress: b.sup}})
	require.NoError(t, err)

	require.Equal(t, 8, rep.Rows)
	require.Equal(t, 3, rep.Sendable)
	require.Equal(t, 1, rep.Suppressed)
	require.Equal(t, 4, rep.Recipients)
	require.Equal(t, 1, rep.Duplicates)
	require.Equal(t, []Duplicate{{Line: 4, First: 2}}, rep.DuplicateRows)
	require.Equal(t, 3, rep.Bad)
	require.Len(t, rep.BadRows, 3)
	require.Equal(t, 3, rep.BadRows[0].Line)
	require.Equal(t, "phone", rep.BadRows[0].Field)
	require.Equal(t, RowError{Line: 7, Field: "phone", Reason: "required"}, rep.BadRows[1])
	require.Equal(t, 8, rep.BadRows[2].Line)
	require.Equal(t, "message", rep.BadRows[2].Field)
	require.Contains(t, rep.BadRows[2].Reason, "segments")
	for _, bad := range rep.BadRows {
		require.NotContains(t, bad.Reason, "2345678", "no number in a reason")
	}

	c := b.get("rep")
	require.Equal(t, Scheduled, c.State)
	require.Equal(t, int64(3), c.Counts["pending"])
	require.Equal(t, int64(1), c.Counts["suppressed"])
	recs, err := b.store.Recipients(ctx, c, 0, c.Total)
	require.NoError(t, err)
	require.Equal(t, []Recipient{
		{Index: 0, Number: "+243812345678", Values: []string{"Ana"}},
		{Index: 1, Number: "+243812345679", Values: []string{"Carl"}},
		{Index: 2, Number: "+243812345682", Values: []string{"Fay\tand\nJo"}},
		{Index: 3, Number: "+243812345680", Values: []string{"Dan"}},
	}, recs)
	st, err := b.store.State(ctx, "rep", 3)
	require.NoError(t, err)
	require.Equal(t, Suppressed, st)

	// The suppressed recipient is never sent.
	b.drive(b.handler(nil), []*Scheduler{b.scheduler()}, b.stateIs("rep", Done))
	per := b.fake.Recorder().PerDestination()
	require.Len(t, per, 3)
	require.Zero(t, per["+243812345680"])
	texts := map[string]string{}
	for _, a := range b.fake.Recorder().Accepted() {
		texts[a.To] = a.Text
	}
	require.Equal(t, "Hi Fay\tand\nJo!", texts["+243812345682"])
}

func TestCreateRefusesBadDefinitions(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOptions{})
	ctx := context.Background()
	start := pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC"}
	create := func(d Definition, file string, o CreateOptions) error {
		if d.Provider == "" {
			d.Provider = "conectaline"
		}
		if d.Message == "" {
			d.Message = "Hello"
		}
		_, err := b.store.Create(ctx, d, strings.NewReader(file), o)
		return err
	}
	fieldOf := func(err error) string {
		t.Helper()
		var fe *FieldError
		var pe *pacing.FieldError
		switch {
		case errors.As(err, &fe):
			return fe.Field
		case errors.As(err, &pe):
			return pe.Field
		}
		require.FailNow(t, fmt.Sprintf("not a field error: %v", err))
		return ""
	}
	file := csvOf(3)

	err := create(Definition{Message: "Hi {{nickname}}", Pacing: start}, file, CreateOptions{})
	require.Equal(t, "message", fieldOf(err))
	require.ErrorContains(t, err, "nickname")

	only := func(p pacing.Spec) pacing.Spec { p.StartDate, p.TimeZone = start.StartDate, start.TimeZone; return p }
	require.Equal(t, "minutesxblock", fieldOf(create(Definition{Pacing: only(pacing.Spec{SMSPerBlock: 100})}, file, CreateOptions{})))
	require.Equal(t, "smsxblock", fieldOf(create(Definition{Pacing: only(pacing.Spec{MinutesPerBlock: 5})}, file, CreateOptions{})))
	require.Equal(t, "days", fieldOf(create(Definition{Pacing: only(pacing.Spec{Days: "1,2"})}, file, CreateOptions{})))
	require.Equal(t, "time_intervals", fieldOf(create(Definition{Pacing: only(pacing.Spec{TimeIntervals: "09:00-10:00"})}, file, CreateOptions{})))
	require.Equal(t, "provider", fieldOf(create(Definition{Provider: "kaizala", Pacing: start}, file, CreateOptions{})))
	require.Equal(t, "provider", fieldOf(create(Definition{Pacing: start}, file, CreateOptions{Providers: []string{"keccel"}})))
	require.Equal(t, "phone_column", fieldOf(create(Definition{Pacing: start}, "mobile,name\n+243812345678,A\n", CreateOptions{})))
	require.Equal(t, "id", fieldOf(create(Definition{ID: "a:b", Pacing: start}, file, CreateOptions{})))
	require.Equal(t, "message", fieldOf(create(Definition{Message: strings.Repeat("☃", 800), Pacing: start}, file, CreateOptions{})))

	// Strict: one bad row and nothing is created.
	err = create(Definition{ID: "strict", Pacing: start}, file+"12,x\n", CreateOptions{ImportOptions: ImportOptions{Strict: true}})
	require.Equal(t, "file", fieldOf(err))
	_, err = b.store.Get(ctx, "strict")
	require.ErrorIs(t, err, ErrNotFound)

	// A named phone column, and an id that is taken.
	require.NoError(t, create(Definition{ID: "taken", Pacing: start}, "mobile\n+243812345678\n", CreateOptions{ImportOptions: ImportOptions{PhoneColumn: "Mobile"}}))
	require.ErrorIs(t, create(Definition{ID: "taken", Pacing: start}, file, CreateOptions{}), ErrExists)

	list, err := b.store.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "taken", list[0].ID)
}

func TestCheckReportsWithoutStoring(t *testing.T) {
	t.Parallel()
	rep, err := Check(context.Background(), Definition{Provider: "sakari", Message: "Hi {{name}}",
		Pacing: pacing.Spec{StartDate: "2031-03-03 09:00", TimeZone: "UTC", SMSPerBlock: 1000, MinutesPerBlock: 5}},
		strings.NewReader(csvOf(2500)+number(0)+",dup\n"), CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, Report{Rows: 2501, Recipients: 2500, Sendable: 2500, Duplicates: 1,
		DuplicateRows: []Duplicate{{Line: 2502, First: 2}}, Blocks: 3}, rep)
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	tpl, err := ParseTemplate("Hi {{ Name }}, {{code}} is your code, {{name}}. {single}")
	require.NoError(t, err)
	require.Equal(t, []string{"name", "code"}, tpl.Fields())
	require.False(t, tpl.Static())
	require.Equal(t, "Hi Ana, 42 is your code, Ana. {single}", tpl.Render([]string{"Ana", "42"}))
	require.Equal(t, "Hi ,  is your code, . {single}", tpl.Render(nil))

	static, err := ParseTemplate("No fields")
	require.NoError(t, err)
	require.True(t, static.Static())
	require.Equal(t, "No fields", static.Render(nil))

	for _, bad := range []string{"Hi {{name", "Hi {{}}", "Hi {{ {x} }}"} {
		_, err := ParseTemplate(bad)
		var fe *FieldError
		require.True(t, errors.As(err, &fe), bad)
		require.Equal(t, "message", fe.Field)
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := NewID(t0), NewID(t0.Add(time.Millisecond))
	require.Regexp(t, `^c-[0-9a-z]{16}$`, a)
	require.True(t, idPattern.MatchString(a))
	require.Less(t, a, b)
	require.NotEqual(t, NewID(t0), NewID(t0))
}

// TestNormalizerMatchesSMS: whenever the E.164 shortcut accepts a number,
// sms.NormalizeNumber accepts it too and returns it unchanged, and the
// shortcut takes the common case.
func TestNormalizerMatchesSMS(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 11))
	for _, region := range []string{"", "CD"} {
		n := newNormalizer(region)
		fast := 0
		check := func(raw string) {
			want, wantErr := sms.NormalizeNumber(raw, region)
			if n.fast(raw) {
				fast++
				require.NoError(t, wantErr, raw)
				require.Equal(t, raw, want, raw)
			}
			got, err := n.normalize(raw)
			require.Equal(t, wantErr == nil, err == nil, raw)
			require.Equal(t, want, got, raw)
		}
		for reg := range phonenumbers.GetSupportedRegions() {
			cc := phonenumbers.GetCountryCodeForRegion(reg)
			for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE} {
				ex := phonenumbers.GetExampleNumberForType(reg, typ)
				if ex == nil {
					continue
				}
				nsn := phonenumbers.GetNationalSignificantNumber(ex)
				for range 8 {
					// The example with its last digits varied, sometimes
					// shortened, lengthened or given a leading 0 or 1.
					d := []byte(nsn)
					for k := max(0, len(d)-4); k < len(d); k++ {
						d[k] = byte('0' + rnd.IntN(10))
					}
					s := string(d)
					switch rnd.IntN(8) {
					case 0:
						s = s[:len(s)-1]
					case 1:
						s += fmt.Sprint(rnd.IntN(10))
					case 2:
						s = "0" + s
					case 3:
						s = "1" + s
					}
					check(fmt.Sprintf("+%d%s", cc, s))
				}
			}
		}
		for range 1000 { // random digits
			l := 4 + rnd.IntN(14)
			d := make([]byte, l)
			for k := range d {
				d[k] = byte('0' + rnd.IntN(10))
			}
			check("+" + string(d))
		}
		for i := range 200 {
			check(sms.ExampleNumber("CD", i*4999))
			check(sms.ExampleNumber("US", i*4999))
		}
		require.Greater(t, fast, 1000, "the shortcut should take most valid numbers (region %q)", region)
	}
}
