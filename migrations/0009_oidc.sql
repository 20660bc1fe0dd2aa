-- Single sign-on attempts between the redirect to the identity provider and its
-- callback: kept in the database so whichever app node gets the callback can finish
-- it. A row is deleted by the callback that uses it (single use) or after 10 minutes.
CREATE TABLE oidc_logins (
    state TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    next_path TEXT NOT NULL,
    created_at TEXT NOT NULL
);
