-- Node identities: the certificate each node name enrolled with. First enrolment of a name
-- wins; a revoked identity refuses its certificate and frees the name for a new enrolment.
create table node_identities (
  name text primary key,
  cert_fingerprint text not null,
  key_fingerprint text not null,
  enrolled_at timestamptz not null default now(),
  revoked_at timestamptz
);

-- The cluster CA, shared by every coordinator of the cluster (a standby serves with the same
-- CA, so nodes and CLIs that pinned it follow a failover). One row.
create table cluster_ca (
  id int primary key default 1 check (id = 1),
  cert_pem text not null,
  key_pem text not null,
  created_at timestamptz not null default now()
);
