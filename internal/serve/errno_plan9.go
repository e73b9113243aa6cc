package serve

// acceptRetryErrnos is empty on Plan 9, which has no errno values; timeouts
// and Temporary errors are still retried.
var acceptRetryErrnos [0]error
