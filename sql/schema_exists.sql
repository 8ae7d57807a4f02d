SELECT to_regclass('campaign_leads') IS NOT NULL AS ready;
