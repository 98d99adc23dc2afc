-- Environment images each runner has loaded: JSON object env name -> image creation (unix seconds).
ALTER TABLE nodes ADD COLUMN environments TEXT;
