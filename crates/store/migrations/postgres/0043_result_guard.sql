-- What is done with an upstream's result that carries a secret or an instruction aimed at
-- the model: off (nothing), flag, redact or refuse.
ALTER TABLE upstreams ADD COLUMN result_guard TEXT NOT NULL DEFAULT 'off';
