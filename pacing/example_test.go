package pacing_test

import (
	"fmt"

	"github.com/smsq/smsq/pacing"
)

// Weekdays in two windows, Madrid time: blocks that would fall at lunch or
// over the weekend wait for the next window.
func Example() {
	plan, err := pacing.Parse(pacing.Spec{
		StartDate:       "2026-05-08 12:30", // a Friday
		TimeZone:        "Europe/Madrid",
		SMSPerBlock:     1000,
		MinutesPerBlock: 20,
		Days:            "1,2,3,4,5",
		TimeIntervals:   "09:00-13:00,17:00-21:00",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range plan.Schedule(2500, 0) {
		fmt.Printf("block %d: recipients %d-%d from %s\n", b.Index, b.First, b.First+b.Count-1, b.Start.Format("Mon 2006-01-02 15:04 MST"))
	}
	// Output:
	// block 0: recipients 0-999 from Fri 2026-05-08 12:30 CEST
	// block 1: recipients 1000-1999 from Fri 2026-05-08 12:50 CEST
	// block 2: recipients 2000-2499 from Fri 2026-05-08 17:00 CEST
}

// A window that crosses midnight belongs to the day it starts on: Friday
// 22:00 to Saturday 02:00, and not Thursday night.
func Example_crossingMidnight() {
	plan, err := pacing.Parse(pacing.Spec{
		StartDate: "2026-05-07 21:00", TimeZone: "Europe/Madrid", // a Thursday
		SMSPerBlock: 100, MinutesPerBlock: 90, Days: "5", TimeIntervals: "22:00-02:00",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range plan.Schedule(400, 0) {
		fmt.Println(b.Start.Format("Mon 15:04"))
	}
	// Output:
	// Fri 22:00
	// Fri 23:30
	// Sat 01:00
	// Fri 22:00
}

// 24:00 ends a window at midnight; a block cut off there resumes at the next
// allowed instant.
func ExamplePlan_WindowEnd() {
	plan, err := pacing.Parse(pacing.Spec{
		StartDate: "2026-05-04 23:00", TimeZone: "America/New_York",
		SMSPerBlock: 5000, MinutesPerBlock: 60, TimeIntervals: "20:00-24:00",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	first := plan.Schedule(10000, 1)[0]
	stop := plan.WindowEnd(first.Start)
	fmt.Println("send from", first.Start.Format("Jan 2 15:04"), "until", stop.Format("Jan 2 15:04"))
	fmt.Println("then resume at", plan.NextAllowed(stop).Format("Jan 2 15:04"))
	// Output:
	// send from May 4 23:00 until May 5 00:00
	// then resume at May 5 20:00
}

func ExampleParse_error() {
	_, err := pacing.Parse(pacing.Spec{StartDate: "2026-05-04 09:30", TimeZone: "Europe/Madrid", SMSPerBlock: 500})
	fmt.Println(err)
	// Output:
	// pacing.minutesxblock: required when smsxblock is set: give both or neither
}
