package family

// NewUninstrumentedHandler is NewHandler without promhttp's
// instrumentation, for tests comparing two handlers' bodies.
var NewUninstrumentedHandler = newHandler
