"""Group ``market``: ingestion of prices, fundamentals, sectors, market series, earnings events,
rejected rows and (generated market only) the planted truth."""
