package loggen

import "fmt"

// DistinctSessions returns the records of n sessions, each of a distinct user
// on a distinct target: a Session Start, a Port Steal of port 80 and a
// Session End after 60 s, in raw JSON. Applied, 1700 of them leave about
// 10,000 series, the load of the scrape benchmarks.
func DistinctSessions(n int) [][]byte {
	out := make([][]byte, 0, 3*n)
	for i := range n {
		user := fmt.Sprintf(`"client_user":"user%d","client_name":"User %d","target_namespace":"ns%d","target_type":"deployment","target_name":"svc%d"`, i, i, i, i)
		id := fmt.Sprintf(`"session_id":"%016X"`, i)
		out = append(out,
			[]byte(`{"fields":{"message":"Session Start",`+user+`,`+id+`}}`),
			[]byte(`{"fields":{"message":"Port Steal",`+user+`,`+id+`,"port":80}}`),
			[]byte(`{"fields":{"message":"Session End",`+user+`,`+id+`,"session_duration":60}}`))
	}
	return out
}
