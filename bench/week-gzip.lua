-- wrk: POST one week of the "plain" element (or BENCH_FORM's) as a browser's widget does, taking gzip.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Accept-Encoding"] = "gzip, deflate, br, zstd"
wrk.body = "form=" .. (os.getenv("BENCH_FORM") or "plain") .. "&element=tid&week=" .. (os.getenv("BENCH_WEEK") or "")
