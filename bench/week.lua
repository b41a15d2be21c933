-- wrk: POST one week of the "plain" element, as the widget does.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.body = "form=plain&element=tid&week=" .. (os.getenv("BENCH_WEEK") or "")
