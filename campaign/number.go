package campaign

import (
	"regexp"
	"strconv"

	"github.com/nyaruka/phonenumbers"

	"github.com/smsq/smsq/sms"
)

// normalizer is sms.NormalizeNumber with a shortcut for numbers already
// written in E.164, which is what most exported contact lists hold.
// sms.NormalizeNumber spends most of its time in phonenumbers.Parse's
// regular expressions (extension and viability patterns), ~20µs a number:
// too slow for a million-row import on two cores. For "+<digits>" input
// Parse's work reduces to: split the country code, strip a national prefix
// when the region's national-prefix-for-parsing pattern matches the start
// of the national number, and mark leading zeros. The shortcut handles
// exactly the inputs where the last two steps do nothing (no leading zero,
// no national-prefix match) and asks phonenumbers.IsValidNumber, the same
// final test sms.NormalizeNumber applies; every other input, and every
// number the shortcut finds invalid (to get sms's error), takes the full
// path. TestNormalizerMatchesSMS checks the equivalence on random input.
type normalizer struct {
	region string
	// prefix is the anchored national-prefix-for-parsing pattern of each
	// country calling code's main region; nil when it has none. A code
	// absent from the map (non-geographic entities) takes the full path.
	prefix map[int]*regexp.Regexp
}

func newNormalizer(region string) *normalizer {
	n := &normalizer{region: region, prefix: map[int]*regexp.Regexp{}}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return n // no shortcut; the full path still works
	}
	byRegion := map[string]string{}
	for _, md := range coll.GetMetadata() {
		byRegion[md.GetId()] = md.GetNationalPrefixForParsing()
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		main := phonenumbers.GetRegionCodeForCountryCode(cc)
		pfp, ok := byRegion[main]
		if !ok || main == "001" || main == "ZZ" {
			continue
		}
		if pfp == "" {
			n.prefix[cc] = nil
			continue
		}
		re, err := regexp.Compile("^(?:" + pfp + ")")
		if err != nil {
			continue // full path for this code
		}
		n.prefix[cc] = re
	}
	return n
}

// normalize returns raw in E.164 or sms.NormalizeNumber's error.
func (n *normalizer) normalize(raw string) (string, error) {
	if n.fast(raw) {
		return raw, nil
	}
	return sms.NormalizeNumber(raw, n.region)
}

// fast reports whether raw is a valid number already in E.164 form.
func (n *normalizer) fast(raw string) bool {
	if len(raw) < 4 || len(raw) > 20 || raw[0] != '+' || raw[1] == '0' {
		return false
	}
	for i := 1; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return false
		}
	}
	digits := raw[1:]
	for l := 1; l <= 3 && l < len(digits); l++ {
		cc, _ := strconv.Atoi(digits[:l])
		re, ok := n.prefix[cc]
		if !ok {
			if phonenumbers.GetRegionCodeForCountryCode(cc) != "ZZ" {
				return false // a code we do not shortcut (non-geographic)
			}
			continue
		}
		nsn := digits[l:]
		if len(nsn) < 2 || len(nsn) > 17 || nsn[0] == '0' || (re != nil && re.MatchString(nsn)) {
			return false
		}
		v, err := strconv.ParseUint(nsn, 10, 64)
		if err != nil {
			return false
		}
		num := &phonenumbers.PhoneNumber{CountryCode: new(int32(cc)), NationalNumber: &v}
		return phonenumbers.IsValidNumber(num)
	}
	return false
}
