-- The floor of the profile benchmark (benchmarks/profile.py): fct_client_profile's per-client,
-- per-business-date measures for every date from $build_from_date to $as_of_date, computed straight from
-- the raw partitions in one statement, written for speed: no staging views, no intermediate tables, no
-- tests. Reads each raw table once, plus the small reference lookups the dbt seeds load.
--
-- The runner sets the two dates first (bound values, never pasted into this text):
--     SET VARIABLE build_from_date = $first;  SET VARIABLE as_of_date = $last;
-- and reads the result from bench.profile_floor.
--
-- How it stays cheap where the dbt models join every business date to the whole history:
--   * master data (clients, facilities, collateral, holdings, statements): each delivery gets a validity
--     interval [delivered, next delivery of the same key) from one window over the key, and an interval
--     join with the few dates replaces "latest delivery on or before each date" (a sort per date);
--   * latest statement and rating in force: computed once per client when nothing about them changes
--     during the range (most clients), per date only for the clients whose inputs change;
--   * windows of twelve and three months over events (fees, contacts, instalments): an event that is
--     known on the first date and lies inside the window of every date built counts once per client, with
--     no date join; only the events near the window edges, or delivered later, are joined to the dates;
--   * instalments due and paid (as known on the first date) over a year before it cannot change any
--     measure and are dropped before the instalments are grouped;
--   * products held: a bit mask over the small product catalogue (bit_or, a fixed-size state), with the
--     counts and the list derived once per distinct mask; the SME industry line once per industry code;
--   * one statement: DuckDB pipelines it, nothing is written but the result.
-- Values and the raw layer's guarantees it relies on: codes and statuses arrive trimmed and in the
-- contracts' allowed values (the loader quarantines anything else), so the staging views' trim/lower are
-- not repeated; an instalment's due date is the same in every record of it.

CREATE OR REPLACE TEMP MACRO first_date() AS CAST(getvariable('build_from_date') AS DATE);
CREATE OR REPLACE TEMP MACRO last_date() AS CAST(getvariable('as_of_date') AS DATE);
CREATE SCHEMA IF NOT EXISTS bench;

CREATE OR REPLACE TABLE bench.profile_floor AS
WITH
dates AS (
    SELECT CAST(range AS DATE) AS d
    FROM range(first_date(), last_date() + INTERVAL 1 DAY, INTERVAL 1 DAY)
),

-- clients ----------------------------------------------------------------------------------------------
client_versions AS (
    SELECT
        client_id, industry_code, region_code, client_status, employees, annual_revenue_cny,
        total_assets_cny, onboarded_date, relationship_manager_id,
        _as_of_date AS valid_from,
        lead(_as_of_date, 1, DATE '9999-12-31') OVER (PARTITION BY client_id ORDER BY _as_of_date) AS valid_to
    FROM raw.clients
    WHERE _as_of_date <= last_date()
),
clients_at AS (
    SELECT
        dates.d, c.client_id, c.industry_code, c.region_code, c.client_status, c.employees,
        c.annual_revenue_cny, c.total_assets_cny, c.onboarded_date, c.relationship_manager_id
    FROM client_versions c
    JOIN dates ON c.valid_from <= dates.d AND dates.d < c.valid_to
),

-- annual statements: the latest and the one before, known at each date -----------------------------
statement_versions AS (
    SELECT
        client_id, statement_id, period_end_date, reported_date, revenue_cny, total_assets_cny,
        total_liabilities_cny, current_assets_cny, current_liabilities_cny, ebit_cny, ebitda_cny,
        interest_expense_cny, debt_service_due_cny, net_profit_cny,
        greatest(reported_date, _as_of_date) AS known_from,
        lead(_as_of_date, 1, DATE '9999-12-31') OVER (PARTITION BY statement_id ORDER BY _as_of_date) AS valid_to
    FROM raw.financial_statements
    WHERE period_type = 'annual' AND reported_date <= last_date() AND _as_of_date <= last_date()
),
statement_changes AS (
    -- clients whose latest statements change during the range (a statement arrives or is replaced)
    SELECT DISTINCT client_id
    FROM statement_versions
    WHERE known_from > first_date() OR valid_to > first_date() AND valid_to <= last_date()
),
ranked_statements AS (
    -- the latest annual statement and the one before: once per client when they hold on every date,
    -- per date for the few clients whose statements change
    SELECT NULL::DATE AS d, s.*, lead(s.period_end_date) OVER w AS prior_period_end_date,
        lead(s.revenue_cny) OVER w AS prior_revenue_cny
    FROM statement_versions s
    ANTI JOIN statement_changes USING (client_id)
    WHERE s.valid_to > last_date()  -- not replaced before the first date
    WINDOW w AS (PARTITION BY s.client_id ORDER BY s.period_end_date DESC, s.reported_date DESC, s.statement_id DESC)
    QUALIFY row_number() OVER w = 1
    UNION ALL BY NAME
    SELECT dates.d, s.*, lead(s.period_end_date) OVER w AS prior_period_end_date,
        lead(s.revenue_cny) OVER w AS prior_revenue_cny
    FROM statement_versions s
    SEMI JOIN statement_changes USING (client_id)
    JOIN dates ON s.known_from <= dates.d AND dates.d < s.valid_to
    WINDOW w AS (
        PARTITION BY s.client_id, dates.d ORDER BY s.period_end_date DESC, s.reported_date DESC, s.statement_id DESC
    )
    QUALIFY row_number() OVER w = 1
),
ratios_per_client AS (
    SELECT
        dates.d, client_id, statement_id, period_end_date, revenue_cny, total_assets_cny,
        total_liabilities_cny / nullif(total_assets_cny, 0)::DOUBLE AS leverage_ratio,
        current_assets_cny / nullif(current_liabilities_cny, 0)::DOUBLE AS current_ratio,
        ebit_cny / nullif(interest_expense_cny, 0)::DOUBLE AS interest_coverage_ratio,
        ebitda_cny / nullif(debt_service_due_cny, 0)::DOUBLE AS debt_service_coverage_ratio,
        net_profit_cny / nullif(total_assets_cny, 0)::DOUBLE AS return_on_assets,
        net_profit_cny / nullif(revenue_cny, 0)::DOUBLE AS net_margin,
        CASE WHEN datediff('month', prior_period_end_date, period_end_date) = 12
             THEN revenue_cny / nullif(prior_revenue_cny, 0)::DOUBLE - 1 END AS revenue_growth_yoy
    FROM ranked_statements r
    JOIN dates ON r.d IS NULL OR r.d = dates.d
),

-- ratings: in force at each date and a year before ------------------------------------------------------
rating_decisions AS (
    SELECT
        r.client_id, r.rating_date, r.grade, m.grade_rank, m.ttc_pd,
        greatest(r.rating_date, r._as_of_date) AS known_from,
        -- one integer for "latest decision": by rating date, then rating id
        row_number() OVER (ORDER BY r.rating_date, r.rating_id) AS seq
    FROM raw.ratings r
    JOIN reference.ref_rating_master_scale m USING (grade)
    WHERE r._as_of_date <= last_date()
),
rating_changes AS (
    -- clients whose rating in force, or whose rating a year before, changes during the range
    SELECT DISTINCT client_id
    FROM rating_decisions
    WHERE known_from > first_date()
       OR rating_date > CAST(first_date() - INTERVAL 12 MONTH AS DATE)
          AND rating_date <= CAST(last_date() - INTERVAL 12 MONTH AS DATE)
),
ratings_per_client AS (
    SELECT
        NULL::DATE AS d, r.client_id,
        arg_max(r.grade, r.seq) AS current_grade,
        arg_max(r.grade_rank, r.seq) AS current_grade_rank,
        arg_max(r.ttc_pd, r.seq) AS ttc_pd,
        max(r.rating_date) AS rating_date,
        arg_max(r.grade_rank, r.seq) FILTER (WHERE r.rating_date <= first_date() - INTERVAL 12 MONTH)
            AS grade_rank_12m_ago
    FROM rating_decisions r
    ANTI JOIN rating_changes USING (client_id)
    GROUP BY r.client_id
    UNION ALL BY NAME
    SELECT
        dates.d, r.client_id,
        arg_max(r.grade, r.seq) AS current_grade,
        arg_max(r.grade_rank, r.seq) AS current_grade_rank,
        arg_max(r.ttc_pd, r.seq) AS ttc_pd,
        max(r.rating_date) AS rating_date,
        arg_max(r.grade_rank, r.seq) FILTER (WHERE r.rating_date <= dates.d - INTERVAL 12 MONTH) AS grade_rank_12m_ago
    FROM rating_decisions r
    SEMI JOIN rating_changes USING (client_id)
    JOIN dates ON r.known_from <= dates.d
    GROUP BY dates.d, r.client_id
),
ratings_at AS (
    SELECT dates.d, r.* EXCLUDE (d)
    FROM ratings_per_client r
    JOIN dates ON r.d IS NULL OR r.d = dates.d
),
defaulted_debtors AS (
    -- rated D: every facility of the debtor is at least substandard
    SELECT d, client_id FROM ratings_at WHERE current_grade = 'D'
),

-- instalments ---------------------------------------------------------------------------------------------
grouped_instalments AS (
    -- one row per instalment (the record of its due date and, for a late one, of its payment), leaving
    -- out every record that shows it due and paid, as known on the first date, over a year before it:
    -- no measure of a date built can see such an instalment
    SELECT
        facility_id, installment_no,
        any_value(client_id) AS client_id,
        min(due_date) AS due_date,
        max(scheduled_principal_cny + scheduled_interest_cny) AS scheduled_amount_cny,
        min(_as_of_date) AS first_delivered_date,
        min(paid_date) AS paid_date,
        min(_as_of_date) FILTER (WHERE paid_date IS NOT NULL) AS paid_delivered_date
    FROM raw.repayments
    WHERE _as_of_date <= last_date() AND due_date <= last_date()
      AND NOT coalesce(
          due_date < CAST(first_date() - INTERVAL 12 MONTH AS DATE)
          AND paid_date < CAST(first_date() - INTERVAL 12 MONTH AS DATE)
          AND _as_of_date <= first_date(),
          false)
    GROUP BY facility_id, installment_no
),
settled_old_instalments AS (
    -- the few old instalments left above whose settling record the filter dropped
    SELECT DISTINCT o.facility_id, o.installment_no
    FROM (
        SELECT facility_id, installment_no FROM grouped_instalments
        WHERE due_date < CAST(first_date() - INTERVAL 12 MONTH AS DATE)
    ) o
    JOIN raw.repayments r USING (facility_id, installment_no)
    WHERE r.due_date < CAST(first_date() - INTERVAL 12 MONTH AS DATE)
      AND r.paid_date < CAST(first_date() - INTERVAL 12 MONTH AS DATE)
      AND r._as_of_date <= first_date()
),
instalments AS (
    SELECT * FROM grouped_instalments
    ANTI JOIN settled_old_instalments USING (facility_id, installment_no)
),
instalments_classified AS (
    SELECT
        *,
        -- known on the first date, due in the twelve months before every date built and paid on time:
        -- counts as due and paid on time on every date, reaches no days past due
        first_delivered_date <= first_date() AND due_date <= first_date()
            AND due_date > CAST(last_date() - INTERVAL 12 MONTH AS DATE)
            AND paid_delivered_date <= first_date() AND paid_date <= due_date AS is_steady
    FROM instalments
),
steady_instalments_per_client AS (
    SELECT client_id, count(*) AS instalments_on_time_12m
    FROM instalments_classified
    WHERE is_steady
    GROUP BY client_id
),
instalments_at AS (
    SELECT
        dates.d, i.facility_id, i.client_id, i.due_date, i.scheduled_amount_cny,
        CASE WHEN i.paid_delivered_date <= dates.d AND i.paid_date <= dates.d THEN i.paid_date END AS paid_date
    FROM instalments_classified i
    JOIN dates ON i.first_delivered_date <= dates.d AND i.due_date <= dates.d
    WHERE NOT coalesce(i.is_steady, false)
),
repayments_per_facility AS (
    SELECT
        d, facility_id,
        any_value(client_id) AS client_id,
        coalesce(max(datediff('day', due_date, d)) FILTER (WHERE paid_date IS NULL AND due_date < d), 0)
            AS current_dpd,
        coalesce(max(greatest(datediff('day', due_date, coalesce(paid_date, d)), 0))
            FILTER (WHERE coalesce(paid_date, d) >= d - INTERVAL 3 MONTH), 0) AS max_dpd_3m,
        coalesce(max(greatest(datediff('day', due_date, coalesce(paid_date, d)), 0))
            FILTER (WHERE coalesce(paid_date, d) >= d - INTERVAL 12 MONTH), 0) AS max_dpd_12m,
        coalesce(sum(scheduled_amount_cny) FILTER (WHERE paid_date IS NULL AND due_date < d), 0) AS arrears_cny,
        count(*) FILTER (WHERE due_date > d - INTERVAL 12 MONTH) AS instalments_due_12m,
        count(*) FILTER (WHERE due_date > d - INTERVAL 12 MONTH AND paid_date <= due_date)
            AS instalments_paid_on_time_12m
    FROM instalments_at
    GROUP BY d, facility_id
),
repayments_per_client_edges AS (
    SELECT
        d, client_id, max(current_dpd) AS current_dpd, max(max_dpd_3m) AS max_dpd_3m,
        max(max_dpd_12m) AS max_dpd_12m, sum(arrears_cny) AS arrears_cny,
        sum(instalments_due_12m) AS instalments_due_12m,
        sum(instalments_paid_on_time_12m) AS instalments_paid_on_time_12m
    FROM repayments_per_facility
    GROUP BY d, client_id
),
steady_instalments_per_client_date AS (
    SELECT dates.d, s.client_id, s.instalments_on_time_12m
    FROM steady_instalments_per_client s CROSS JOIN dates
),
repayments_per_client AS (
    SELECT
        coalesce(e.d, s.d) AS d,
        coalesce(e.client_id, s.client_id) AS client_id,
        coalesce(e.current_dpd, 0) AS current_dpd,
        coalesce(e.max_dpd_3m, 0) AS max_dpd_3m,
        coalesce(e.max_dpd_12m, 0) AS max_dpd_12m,
        coalesce(e.arrears_cny, 0) AS arrears_cny,
        coalesce(e.instalments_due_12m, 0) + coalesce(s.instalments_on_time_12m, 0) AS instalments_due_12m,
        coalesce(e.instalments_paid_on_time_12m, 0) + coalesce(s.instalments_on_time_12m, 0)
            AS instalments_paid_on_time_12m
    FROM repayments_per_client_edges e
    FULL JOIN steady_instalments_per_client_date s ON s.client_id = e.client_id AND s.d = e.d
),

-- facilities and collateral --------------------------------------------------------------------------
facility_versions AS (
    SELECT
        facility_id, client_id, product_code, facility_status, limit_cny, drawn_balance_cny,
        interest_rate_pct, maturity_date,
        _as_of_date AS valid_from,
        lead(_as_of_date, 1, DATE '9999-12-31') OVER (PARTITION BY facility_id ORDER BY _as_of_date) AS valid_to
    FROM raw.facilities
    WHERE _as_of_date <= last_date()
),
collateral_versions AS (
    SELECT
        facility_id, collateral_status, appraised_value_cny,
        _as_of_date AS valid_from,
        lead(_as_of_date, 1, DATE '9999-12-31') OVER (PARTITION BY collateral_id ORDER BY _as_of_date) AS valid_to
    FROM raw.collateral
    WHERE _as_of_date <= last_date()
),
collateral_at AS (
    SELECT dates.d, c.facility_id, sum(c.appraised_value_cny) AS collateral_value_cny
    FROM collateral_versions c
    JOIN dates ON c.valid_from <= dates.d AND dates.d < c.valid_to
    WHERE c.collateral_status = 'active'
    GROUP BY dates.d, c.facility_id
),
facilities_at AS (
    -- on book (active, defaulted) and written off: the facilities exposure and classification look at
    SELECT
        dates.d, f.facility_id, f.client_id, f.product_code, f.facility_status,
        f.facility_status IN ('active', 'defaulted') AS is_on_book,
        f.limit_cny, f.drawn_balance_cny, f.interest_rate_pct, f.maturity_date,
        greatest(f.limit_cny - f.drawn_balance_cny, 0) AS undrawn_cny,
        p.ccf, p.product_family
    FROM facility_versions f
    JOIN dates ON f.valid_from <= dates.d AND dates.d < f.valid_to
    LEFT JOIN reference.ref_products p USING (product_code)
    WHERE f.facility_status IN ('active', 'defaulted', 'written_off')
),
past_due_facilities AS (
    SELECT d, facility_id, current_dpd FROM repayments_per_facility WHERE current_dpd > 0
),
facilities_classified AS (
    SELECT
        f.*,
        coalesce(c.collateral_value_cny, 0) AS collateral_value_cny,
        greatest(
            CASE
                WHEN coalesce(rp.current_dpd, 0) > 360 THEN 5
                WHEN coalesce(rp.current_dpd, 0) > 270 THEN 4
                WHEN coalesce(rp.current_dpd, 0) > 90 THEN 3
                WHEN coalesce(rp.current_dpd, 0) > 0 THEN 2
                ELSE 1
            END,
            CASE WHEN f.facility_status = 'written_off' THEN 5 ELSE 1 END,
            CASE WHEN f.facility_status = 'defaulted' OR dd.client_id IS NOT NULL THEN 3 ELSE 1 END
        ) AS own_class_rank
    FROM facilities_at f
    LEFT JOIN past_due_facilities rp ON rp.facility_id = f.facility_id AND rp.d = f.d
    LEFT JOIN defaulted_debtors dd ON dd.client_id = f.client_id AND dd.d = f.d
    LEFT JOIN collateral_at c ON c.facility_id = f.facility_id AND c.d = f.d
),
facilities_per_client AS (
    SELECT
        d, client_id,
        -- exposure: on-book facilities
        count(*) FILTER (WHERE is_on_book) AS facilities_on_book,
        sum(limit_cny) FILTER (WHERE is_on_book) AS limit_cny,
        sum(drawn_balance_cny) FILTER (WHERE is_on_book) AS drawn_balance_cny,
        sum(undrawn_cny) FILTER (WHERE is_on_book) AS undrawn_cny,
        sum(drawn_balance_cny + ccf * undrawn_cny) FILTER (WHERE is_on_book) AS ead_cny,
        sum(collateral_value_cny) FILTER (WHERE is_on_book) AS collateral_value_cny,
        sum(interest_rate_pct * drawn_balance_cny) FILTER (WHERE is_on_book) AS rate_x_balance,
        sum(greatest(datediff('day', d, maturity_date), 0) / 365.25 * drawn_balance_cny)
            FILTER (WHERE is_on_book) AS maturity_x_balance,
        max(maturity_date) FILTER (WHERE is_on_book) AS last_maturity_date,
        coalesce(sum(drawn_balance_cny) FILTER (WHERE is_on_book AND product_code = 'project_finance'), 0) AS drawn_project_finance_cny,
        coalesce(sum(drawn_balance_cny) FILTER (WHERE is_on_book AND product_code = 'working_capital_loan'), 0) AS drawn_working_capital_loan_cny,
        coalesce(sum(drawn_balance_cny) FILTER (WHERE is_on_book AND product_code = 'fixed_asset_loan'), 0) AS drawn_fixed_asset_loan_cny,
        coalesce(sum(drawn_balance_cny) FILTER (WHERE is_on_book AND product_code = 'trade_finance'), 0) AS drawn_trade_finance_cny,
        coalesce(sum(drawn_balance_cny) FILTER (WHERE is_on_book AND product_code = 'ip_pledge_loan'), 0) AS drawn_ip_pledge_loan_cny,
        coalesce(sum(drawn_balance_cny) FILTER (WHERE is_on_book AND product_code = 'credit_line'), 0) AS drawn_credit_line_cny,
        -- five-tier class: the debtor's worst facility, every facility at least substandard when more
        -- than 10 % of the debtor's drawn balance is non-performing (on book and written off)
        max(own_class_rank) AS max_own_class_rank,
        count(*) AS classified_facilities,
        count(*) FILTER (WHERE own_class_rank >= 3) AS own_non_performing_facilities,
        sum(drawn_balance_cny) FILTER (WHERE own_class_rank >= 3) / nullif(sum(drawn_balance_cny), 0)
            AS non_performing_share
    FROM facilities_classified
    GROUP BY d, client_id
),

-- relationship -----------------------------------------------------------------------------------------
holding_versions AS (
    SELECT
        client_id, product_code, holding_status, opened_date, closed_date, balance_cny,
        _as_of_date AS valid_from,
        lead(_as_of_date, 1, DATE '9999-12-31') OVER (PARTITION BY holding_id ORDER BY _as_of_date) AS valid_to
    FROM raw.product_holdings
    WHERE _as_of_date <= last_date()
),
open_holdings AS (
    SELECT dates.d, h.client_id, h.product_code, p.product_family, h.balance_cny
    FROM holding_versions h
    JOIN dates ON h.valid_from <= dates.d AND dates.d < h.valid_to
    LEFT JOIN reference.ref_products p USING (product_code)
    WHERE h.holding_status = 'active'
      AND h.opened_date <= dates.d
      AND (h.closed_date IS NULL OR h.closed_date > dates.d)
),
product_bits AS (
    -- the catalogue is small: a client's products on a date are a bit mask, aggregated with bit_or (a
    -- fixed-size state), and everything derived from the set is computed once per distinct mask
    SELECT product_code, product_family, CAST(1 AS UBIGINT) << (row_number() OVER (ORDER BY product_code) - 1) AS bit
    FROM reference.ref_products
),
holdings_per_client AS (
    SELECT
        h.d, h.client_id,
        bit_or(b.bit) AS product_mask,
        sum(h.balance_cny) FILTER (WHERE h.product_family = 'deposit') AS deposit_balance_cny
    FROM open_holdings h
    JOIN product_bits b USING (product_code)
    GROUP BY h.d, h.client_id
),
lending_per_client AS (
    SELECT f.d, f.client_id, bit_or(b.bit) AS product_mask
    FROM facilities_at f
    JOIN product_bits b USING (product_code)
    WHERE f.is_on_book
    GROUP BY f.d, f.client_id
),
product_masks AS (
    SELECT
        m.product_mask,
        count(*) AS products_held,
        count(*) FILTER (WHERE b.product_family = 'lending') AS lending_products_held,
        count(DISTINCT b.product_family) AS product_families_held,
        string_agg(b.product_code, ',' ORDER BY b.product_code) AS products_held_list
    FROM (
        SELECT DISTINCT coalesce(h.product_mask, 0) | coalesce(l.product_mask, 0) AS product_mask
        FROM holdings_per_client h
        FULL JOIN lending_per_client l ON l.client_id = h.client_id AND l.d = h.d
    ) m
    JOIN product_bits b ON m.product_mask & b.bit <> 0
    GROUP BY m.product_mask
),
products_per_client AS (
    SELECT
        coalesce(h.d, l.d) AS d,
        coalesce(h.client_id, l.client_id) AS client_id,
        m.products_held, m.lending_products_held, m.product_families_held, m.products_held_list,
        h.deposit_balance_cny
    FROM holdings_per_client h
    FULL JOIN lending_per_client l ON l.client_id = h.client_id AND l.d = h.d
    JOIN product_masks m ON m.product_mask = coalesce(h.product_mask, 0) | coalesce(l.product_mask, 0)
),
fee_rows AS (
    SELECT
        client_id, fee_date, amount_cny, _as_of_date,
        -- known on the first date and inside the twelve months before every date built
        fee_date <= first_date() AND _as_of_date <= first_date()
            AND fee_date > CAST(last_date() - INTERVAL 12 MONTH AS DATE) AS is_steady
    FROM raw.fee_income
    WHERE fee_date > CAST(first_date() - INTERVAL 12 MONTH AS DATE)
      AND fee_date <= last_date() AND _as_of_date <= last_date()
),
fees_steady AS (
    SELECT dates.d, f.client_id, f.amount, f.events
    FROM (
        SELECT client_id, sum(amount_cny) AS amount, count(*) AS events
        FROM fee_rows WHERE is_steady GROUP BY client_id
    ) f
    CROSS JOIN dates
),
fees_edges AS (
    SELECT dates.d, f.client_id, sum(f.amount_cny) AS amount, count(*) AS events
    FROM fee_rows f
    JOIN dates ON f.fee_date <= dates.d AND f._as_of_date <= dates.d AND f.fee_date > dates.d - INTERVAL 12 MONTH
    WHERE NOT f.is_steady
    GROUP BY dates.d, f.client_id
),
fees_per_client AS (
    SELECT
        coalesce(e.d, s.d) AS d,
        coalesce(e.client_id, s.client_id) AS client_id,
        coalesce(s.amount, 0) + coalesce(e.amount, 0) AS fee_income_12m_cny,
        coalesce(s.events, 0) + coalesce(e.events, 0) AS fee_events_12m
    FROM fees_steady s
    FULL JOIN fees_edges e ON e.client_id = s.client_id AND e.d = s.d
),
crm_rows AS (
    SELECT
        client_id, interaction_date, _as_of_date,
        interaction_date <= first_date() AND _as_of_date <= first_date() AS is_known_on_first_date
    FROM raw.crm_interactions
    WHERE interaction_date <= last_date() AND _as_of_date <= last_date()
),
crm_known_on_first_date AS (
    SELECT
        client_id,
        max(interaction_date) AS last_contact_date,
        count(*) FILTER (WHERE interaction_date > CAST(last_date() - INTERVAL 12 MONTH AS DATE)) AS touches_12m,
        count(*) FILTER (WHERE interaction_date > CAST(last_date() - INTERVAL 3 MONTH AS DATE)) AS touches_3m
    FROM crm_rows
    WHERE is_known_on_first_date
    GROUP BY client_id
),
crm_edges AS (
    -- contacts delivered or made after the first date, and those that leave a window during the range
    SELECT
        dates.d, c.client_id,
        max(c.interaction_date) AS last_contact_date,
        count(*) FILTER (WHERE c.interaction_date > dates.d - INTERVAL 12 MONTH AND NOT (c.is_known_on_first_date
            AND c.interaction_date > CAST(last_date() - INTERVAL 12 MONTH AS DATE))) AS touches_12m,
        count(*) FILTER (WHERE c.interaction_date > dates.d - INTERVAL 3 MONTH AND NOT (c.is_known_on_first_date
            AND c.interaction_date > CAST(last_date() - INTERVAL 3 MONTH AS DATE))) AS touches_3m
    FROM crm_rows c
    JOIN dates ON c.interaction_date <= dates.d AND c._as_of_date <= dates.d
    WHERE NOT c.is_known_on_first_date
       OR c.interaction_date BETWEEN CAST(first_date() - INTERVAL 12 MONTH AS DATE)
                                 AND CAST(last_date() - INTERVAL 12 MONTH AS DATE)
       OR c.interaction_date BETWEEN CAST(first_date() - INTERVAL 3 MONTH AS DATE)
                                 AND CAST(last_date() - INTERVAL 3 MONTH AS DATE)
    GROUP BY dates.d, c.client_id
),
contacts_per_client AS (
    SELECT
        coalesce(e.d, k.d) AS d,
        coalesce(e.client_id, k.client_id) AS client_id,
        greatest(k.last_contact_date, e.last_contact_date) AS last_contact_date,
        coalesce(k.touches_12m, 0) + coalesce(e.touches_12m, 0) AS crm_touches_12m,
        coalesce(k.touches_3m, 0) + coalesce(e.touches_3m, 0) AS crm_touches_3m
    FROM (SELECT dates.d, k.* FROM crm_known_on_first_date k CROSS JOIN dates) k
    FULL JOIN crm_edges e ON e.client_id = k.client_id AND e.d = k.d
),

-- enterprise size --------------------------------------------------------------------------------------
industry_lines AS (
    -- the SME standard's line of each industry code in use: longest matching code prefix
    SELECT codes.industry_code, arg_max(g.industry_group, length(g.code_prefix)) AS industry_group
    FROM (SELECT DISTINCT industry_code FROM client_versions) codes
    JOIN reference.ref_sme_industry_groups g ON starts_with(substr(codes.industry_code, 2), g.code_prefix)
    GROUP BY codes.industry_code
),
size_bounds AS (
    SELECT
        industry_group,
        max(employees_min) FILTER (WHERE size_class = 'large') AS large_employees_min,
        max(revenue_min_cny) FILTER (WHERE size_class = 'large') AS large_revenue_min_cny,
        max(total_assets_min_cny) FILTER (WHERE size_class = 'large') AS large_total_assets_min_cny,
        max(employees_min) FILTER (WHERE size_class = 'medium') AS medium_employees_min,
        max(revenue_min_cny) FILTER (WHERE size_class = 'medium') AS medium_revenue_min_cny,
        max(total_assets_min_cny) FILTER (WHERE size_class = 'medium') AS medium_total_assets_min_cny,
        max(employees_min) FILTER (WHERE size_class = 'small') AS small_employees_min,
        max(revenue_min_cny) FILTER (WHERE size_class = 'small') AS small_revenue_min_cny,
        max(total_assets_min_cny) FILTER (WHERE size_class = 'small') AS small_total_assets_min_cny
    FROM reference.ref_sme_size_thresholds
    GROUP BY industry_group
),

-- external context -------------------------------------------------------------------------------------
macro_known AS (
    SELECT dates.d, m.*
    FROM raw.macro_indicators m
    JOIN dates ON m._as_of_date <= dates.d
    QUALIFY row_number() OVER (PARTITION BY dates.d, m.indicator_month, m.scenario ORDER BY m._as_of_date DESC) = 1
),
macro_at AS (
    SELECT
        a.d, a.indicator_month AS macro_month, a.gdp_growth_pct, a.pmi, a.lpr_1y_pct, a.lpr_5y_pct,
        o.gdp_growth_next_12m_baseline_pct, o.gdp_growth_next_12m_adverse_pct, o.gdp_growth_next_12m_severe_pct
    FROM (
        SELECT * FROM macro_known
        WHERE NOT is_forecast AND scenario = 'baseline' AND indicator_month <= d
        QUALIFY row_number() OVER (PARTITION BY d ORDER BY indicator_month DESC) = 1
    ) a
    LEFT JOIN (
        SELECT
            d,
            CAST(avg(CAST(gdp_growth_pct AS DECIMAL(9, 4))) FILTER (WHERE scenario = 'baseline') AS DOUBLE)
                AS gdp_growth_next_12m_baseline_pct,
            CAST(avg(CAST(gdp_growth_pct AS DECIMAL(9, 4))) FILTER (WHERE scenario = 'adverse') AS DOUBLE)
                AS gdp_growth_next_12m_adverse_pct,
            CAST(avg(CAST(gdp_growth_pct AS DECIMAL(9, 4))) FILTER (WHERE scenario = 'severe') AS DOUBLE)
                AS gdp_growth_next_12m_severe_pct
        FROM macro_known
        WHERE is_forecast AND indicator_month > d AND indicator_month <= d + INTERVAL 12 MONTH
        GROUP BY d
    ) o USING (d)
),
industry_known AS (
    SELECT dates.d, i.*
    FROM raw.industry_indicators i
    JOIN dates ON i._as_of_date <= dates.d AND i.quarter_end_date <= dates.d
    QUALIFY row_number() OVER (PARTITION BY dates.d, i.quarter_end_date, i.section_code ORDER BY i._as_of_date DESC) = 1
),
industry_at AS (
    SELECT
        l.d, l.section_code, l.quarter_end_date AS industry_quarter_end_date,
        l.output_growth_pct AS industry_output_growth_pct, l.profit_margin_pct AS industry_profit_margin_pct,
        l.npl_ratio_pct AS industry_npl_ratio_pct, l.npl_ratio_pct - y.npl_ratio_pct AS industry_npl_ratio_change_yoy_pp
    FROM (
        SELECT * FROM industry_known
        QUALIFY row_number() OVER (PARTITION BY d, section_code ORDER BY quarter_end_date DESC) = 1
    ) l
    LEFT JOIN industry_known y
        ON y.section_code = l.section_code AND y.d = l.d
        AND y.quarter_end_date = last_day(l.quarter_end_date - INTERVAL 12 MONTH)
),

-- the profile ------------------------------------------------------------------------------------------
profile AS (
    SELECT
        c.client_id,
        c.d AS as_of_date,
        c.client_status,
        c.client_status = 'active' AS is_active_client,
        c.industry_code,
        left(c.industry_code, 1) AS industry_section_code,
        substr(c.industry_code, 2, 2) AS industry_division_code,
        c.region_code,
        coalesce(rg.province_code, left(c.region_code, 2) || '0000') AS province_code,
        coalesce(rg.economic_tier, pv.economic_tier) AS region_economic_tier,
        c.onboarded_date,
        c.relationship_manager_id,

        -- enterprise size
        CASE
            WHEN b.industry_group IS NULL THEN 'unclassified'
            WHEN sz.meets_large THEN 'large'
            WHEN sz.meets_medium THEN 'medium'
            WHEN sz.meets_small THEN 'small'
            WHEN sz.is_below_a_small_minimum THEN 'micro'
            ELSE 'unclassified'
        END AS enterprise_size,
        CASE
            WHEN il.industry_group IS NULL THEN 'industry_code_not_mapped'
            WHEN b.industry_group IS NULL THEN 'industry_outside_standard'
            WHEN sz.meets_large THEN 'meets_every_large_minimum'
            WHEN sz.meets_medium THEN 'meets_every_medium_minimum'
            WHEN sz.meets_small THEN 'meets_every_small_minimum'
            WHEN sz.is_below_a_small_minimum THEN 'below_a_small_minimum'
            ELSE 'measures_missing'
        END AS enterprise_size_reason,
        il.industry_group AS sme_industry_group,
        c.employees,
        sz.revenue_cny AS size_revenue_cny,
        sz.total_assets_cny AS size_total_assets_cny,

        -- financial ratios
        st.statement_id,
        st.period_end_date AS statement_period_end_date,
        st.revenue_cny AS statement_revenue_cny,
        st.leverage_ratio, st.current_ratio, st.interest_coverage_ratio, st.debt_service_coverage_ratio,
        st.return_on_assets, st.net_margin, st.revenue_growth_yoy,

        -- internal rating
        ra.current_grade,
        ra.current_grade_rank,
        ra.ttc_pd,
        ra.rating_date,
        ra.current_grade_rank - ra.grade_rank_12m_ago AS notches_downgraded_12m,
        coalesce(ra.current_grade = 'D', false) AS is_defaulted_grade,

        -- repayment behaviour
        coalesce(rp.current_dpd, 0) AS current_dpd,
        coalesce(rp.max_dpd_3m, 0) AS max_dpd_3m,
        coalesce(rp.max_dpd_12m, 0) AS max_dpd_12m,
        CASE
            WHEN coalesce(rp.current_dpd, 0) <= 0 THEN '0'
            WHEN rp.current_dpd <= 30 THEN '1-30'
            WHEN rp.current_dpd <= 60 THEN '31-60'
            WHEN rp.current_dpd <= 90 THEN '61-90'
            ELSE '90+'
        END AS dpd_bucket,
        coalesce(rp.arrears_cny, 0) AS arrears_cny,
        coalesce(rp.instalments_due_12m, 0) AS instalments_due_12m,
        rp.instalments_paid_on_time_12m / nullif(rp.instalments_due_12m, 0)::DOUBLE AS on_time_payment_rate_12m,

        -- exposure
        coalesce(fx.facilities_on_book, 0) AS facilities_on_book,
        coalesce(fx.facilities_on_book, 0) > 0 AS has_credit_exposure,
        coalesce(fx.limit_cny, 0) AS limit_cny,
        coalesce(fx.drawn_balance_cny, 0) AS drawn_balance_cny,
        coalesce(fx.undrawn_cny, 0) AS undrawn_cny,
        coalesce(fx.ead_cny, 0) AS ead_cny,
        fx.drawn_balance_cny / nullif(fx.limit_cny, 0)::DOUBLE AS utilisation_ratio,
        fx.rate_x_balance / nullif(fx.drawn_balance_cny, 0)::DOUBLE AS weighted_interest_rate_pct,
        fx.maturity_x_balance / nullif(fx.drawn_balance_cny, 0)::DOUBLE AS weighted_remaining_maturity_years,
        fx.last_maturity_date,
        coalesce(fx.collateral_value_cny, 0) AS collateral_value_cny,
        fx.collateral_value_cny / nullif(fx.ead_cny, 0)::DOUBLE AS collateral_coverage_ratio,
        CASE WHEN fx.facilities_on_book > 0 THEN fx.drawn_project_finance_cny ELSE 0 END AS drawn_project_finance_cny,
        CASE WHEN fx.facilities_on_book > 0 THEN fx.drawn_working_capital_loan_cny ELSE 0 END AS drawn_working_capital_loan_cny,
        CASE WHEN fx.facilities_on_book > 0 THEN fx.drawn_fixed_asset_loan_cny ELSE 0 END AS drawn_fixed_asset_loan_cny,
        CASE WHEN fx.facilities_on_book > 0 THEN fx.drawn_trade_finance_cny ELSE 0 END AS drawn_trade_finance_cny,
        CASE WHEN fx.facilities_on_book > 0 THEN fx.drawn_ip_pledge_loan_cny ELSE 0 END AS drawn_ip_pledge_loan_cny,
        CASE WHEN fx.facilities_on_book > 0 THEN fx.drawn_credit_line_cny ELSE 0 END AS drawn_credit_line_cny,

        -- regulatory five-tier class (null without an on-book or written-off facility)
        ac.asset_class,
        ac.asset_class_zh,
        ac.asset_class_rank,
        ac.is_non_performing,
        CASE WHEN fx.non_performing_share > 0.10 THEN fx.classified_facilities
             ELSE coalesce(fx.own_non_performing_facilities, 0) END AS non_performing_facilities,

        -- relationship
        CASE WHEN c.onboarded_date <= c.d THEN date_sub('month', c.onboarded_date, c.d) END AS tenure_months,  -- whole months
        coalesce(pr.products_held, 0) AS products_held,
        coalesce(pr.lending_products_held, 0) AS lending_products_held,
        coalesce(pr.product_families_held, 0) AS product_families_held,
        pr.products_held_list,
        coalesce(pr.deposit_balance_cny, 0) AS deposit_balance_cny,
        coalesce(fe.fee_income_12m_cny, 0) AS fee_income_12m_cny,
        coalesce(fe.fee_events_12m, 0) AS fee_events_12m,
        coalesce(ct.crm_touches_12m, 0) AS crm_touches_12m,
        coalesce(ct.crm_touches_3m, 0) AS crm_touches_3m,
        ct.last_contact_date,
        datediff('day', ct.last_contact_date, c.d) AS days_since_last_contact,

        -- external context
        ma.macro_month, ma.gdp_growth_pct, ma.pmi, ma.lpr_1y_pct, ma.lpr_5y_pct,
        ma.gdp_growth_next_12m_baseline_pct, ma.gdp_growth_next_12m_adverse_pct, ma.gdp_growth_next_12m_severe_pct,
        ind.industry_quarter_end_date, ind.industry_output_growth_pct, ind.industry_profit_margin_pct,
        ind.industry_npl_ratio_pct, ind.industry_npl_ratio_change_yoy_pp
    FROM clients_at c
    LEFT JOIN reference.ref_regions rg ON rg.region_code = c.region_code
    LEFT JOIN reference.ref_regions pv ON pv.region_code = left(c.region_code, 2) || '0000'
    LEFT JOIN industry_lines il ON il.industry_code = c.industry_code
    LEFT JOIN size_bounds b ON b.industry_group = il.industry_group
    LEFT JOIN ratios_per_client st ON st.client_id = c.client_id AND st.d = c.d
    CROSS JOIN LATERAL (
        SELECT
            coalesce(c.annual_revenue_cny, st.revenue_cny) AS revenue_cny,
            coalesce(c.total_assets_cny, st.total_assets_cny) AS total_assets_cny
    ) m
    CROSS JOIN LATERAL (
        SELECT
            m.revenue_cny,
            m.total_assets_cny,
            coalesce((b.large_employees_min IS NULL OR c.employees >= b.large_employees_min)
                AND (b.large_revenue_min_cny IS NULL OR m.revenue_cny >= b.large_revenue_min_cny)
                AND (b.large_total_assets_min_cny IS NULL OR m.total_assets_cny >= b.large_total_assets_min_cny),
                false) AS meets_large,
            coalesce((b.medium_employees_min IS NULL OR c.employees >= b.medium_employees_min)
                AND (b.medium_revenue_min_cny IS NULL OR m.revenue_cny >= b.medium_revenue_min_cny)
                AND (b.medium_total_assets_min_cny IS NULL OR m.total_assets_cny >= b.medium_total_assets_min_cny),
                false) AS meets_medium,
            coalesce((b.small_employees_min IS NULL OR c.employees >= b.small_employees_min)
                AND (b.small_revenue_min_cny IS NULL OR m.revenue_cny >= b.small_revenue_min_cny)
                AND (b.small_total_assets_min_cny IS NULL OR m.total_assets_cny >= b.small_total_assets_min_cny),
                false) AS meets_small,
            coalesce(c.employees < b.small_employees_min OR m.revenue_cny < b.small_revenue_min_cny
                OR m.total_assets_cny < b.small_total_assets_min_cny, false) AS is_below_a_small_minimum
    ) sz
    LEFT JOIN ratings_at ra ON ra.client_id = c.client_id AND ra.d = c.d
    LEFT JOIN repayments_per_client rp ON rp.client_id = c.client_id AND rp.d = c.d
    LEFT JOIN facilities_per_client fx ON fx.client_id = c.client_id AND fx.d = c.d
    LEFT JOIN reference.ref_asset_classes ac
        ON ac.asset_class_rank = CASE WHEN fx.non_performing_share > 0.10 THEN greatest(fx.max_own_class_rank, 3)
                                      ELSE fx.max_own_class_rank END
    LEFT JOIN products_per_client pr ON pr.client_id = c.client_id AND pr.d = c.d
    LEFT JOIN fees_per_client fe ON fe.client_id = c.client_id AND fe.d = c.d
    LEFT JOIN contacts_per_client ct ON ct.client_id = c.client_id AND ct.d = c.d
    LEFT JOIN macro_at ma ON ma.d = c.d
    LEFT JOIN industry_at ind ON ind.section_code = left(c.industry_code, 1) AND ind.d = c.d
)
SELECT * FROM profile;
