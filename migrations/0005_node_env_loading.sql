-- Environment tarballs a runner is loading right now: JSON object env name -> {bytes, total_bytes}.
ALTER TABLE nodes ADD COLUMN env_loading TEXT;
