package jobs

// DirectoryRetry exposes the retry policy of the directory jobs to the tests.
var DirectoryRetry = directoryRetry
