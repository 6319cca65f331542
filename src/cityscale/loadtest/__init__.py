"""`cityscale loadtest`: open-loop (constant arrival rate) and closed-loop HTTP load with SLO gates.

Modules: `units` (rates, durations), `mix` (weighted request templates), `target` (the URL), `client`
(a keep-alive HTTP/1.1 connection on asyncio + httptools), `stats` (HDR histogram and counters),
`runner` (the schedulers), `writes` (the record of writes), `gates` (the SLO verdict), `report`.
"""
