package api

// Routes lists the patterns of the API's operations ("METHOD /path/{param}"), for the test
// that holds them to the OpenAPI document.
func Routes() []string {
	var patterns []string
	for _, r := range (&Server{}).routes() {
		patterns = append(patterns, r.pattern)
	}
	return patterns
}
