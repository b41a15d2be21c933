-- wrk: POST one week of the "plain" element (or BENCH_FORM's), as the widget does.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.body = "form=" .. (os.getenv("BENCH_FORM") or "plain") .. "&element=tid&week=" .. (os.getenv("BENCH_WEEK") or "")
