-- Who is looking up and creating a person (a contact, a lead) right now, by a phone or e-mail it
-- is matched on (core/claims.py): a run claims its person's keys before the lookup and holds them
-- until it ends, so a run on another instance matching the same person waits for the record and
-- then finds it. The claim of an instance that died lapses at expires_at (database-clock Unix
-- seconds).
CREATE TABLE person_claims (
    key        TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX person_claims_owner ON person_claims (owner);
