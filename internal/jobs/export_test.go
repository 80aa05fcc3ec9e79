package jobs

// OutsideRetry exposes the retry policy of the jobs that wait for an outside party to the tests.
var OutsideRetry = outsideRetry
