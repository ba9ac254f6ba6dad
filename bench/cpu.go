package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat CPU times on Linux.
const userHZ = 100

// procCPU is the user+system CPU time a process has used so far, read
// from /proc (Linux). ok is false elsewhere or when the process is gone.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; fields after ")" are
	// plain. utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+st) * time.Second / userHZ, true
}

// cpu is the CPU time used so far by smsq's processes in a scenario: the
// workers and redis-server (not the sandbox and producer in this process).
// Other load on the machine is not in it, which makes it a steadier
// measure of cost than wall-clock throughput on a shared host.
func (e *env) cpu() (time.Duration, bool) {
	pids := []int{e.redis.Proc().Pid()}
	for _, p := range e.workerProcs() {
		pids = append(pids, p.Pid())
	}
	var total time.Duration
	for _, pid := range pids {
		d, ok := procCPU(pid)
		if !ok {
			return 0, false
		}
		total += d
	}
	return total, true
}
