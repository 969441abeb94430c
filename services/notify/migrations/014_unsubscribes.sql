-- One-click unsubscribes (RFC 8058): a guardian address that asked, through the signed link of
-- one of its emails, to receive no more. Per tenant and address, whichever students it is listed
-- for: the link is the guardian's, not a student's. Guardians read as `off` while listed here,
-- so a roster import or an admin's PUT cannot sign them up again; only the school lifts it.
CREATE TABLE unsubscribes (
    tenant_id text NOT NULL,
    address text NOT NULL,  -- lower case, as suppressions
    unsubscribed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address)
);

-- The link each email carries in its List-Unsubscribe header (empty: none), kept with the row
-- so a copy sent again carries the same one.
ALTER TABLE notifications ADD COLUMN unsubscribe_url text NOT NULL DEFAULT '';

GRANT SELECT, INSERT ON unsubscribes TO gradebook_notify;

ALTER TABLE unsubscribes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON unsubscribes
    USING (tenant_id = (SELECT current_setting('app.tenant_id', true))
           OR (SELECT current_setting('app.tenant_id', true)) = '*');
