md.trades | where symbol = "ETH-USD" and ts > now() - 1h
  | summarize vwap = sum(price * size) / sum(size), n = count() by venue, bin(ts, 1m)