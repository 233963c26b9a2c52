-- wrk: a plain GET of the target path, reporting percentiles like signed-ping.lua.
done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua").done
