{#- Integration: of the area's users in the 12 months ending with the month (as in kpi_reach), how many
    had completed contacts in two or more service areas, and with two or more partners. -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months(ref('stg_area_contacts')) }}),

measure_segments as (
    select 'users' as measure, valid_from_n, valid_to_n from {{ ref('int_user_windows') }} where is_area_resident
    union all
    select 'multi_area', valid_from_n, valid_to_n from {{ ref('int_user_windows') }} where is_area_resident and multi_area
    union all
    select 'multi_partner', valid_from_n, valid_to_n from {{ ref('int_user_windows') }}
    where is_area_resident and multi_partner
),

counts as (
    {{ persons_per_month('measure_segments', ['measure']) }}
),

months as (
    select unnest(range(b.first_n, b.last_n + 1)) as month_n from bounds as b
),

per_month as (
    select
        m.month_n,
        coalesce(u.persons, 0) as users,
        coalesce(a.persons, 0) as multi_area_users,
        coalesce(p.persons, 0) as multi_partner_users
    from months as m
    asof left join (select * from counts where measure = 'users') as u on u.month_n <= m.month_n
    asof left join (select * from counts where measure = 'multi_area') as a on a.month_n <= m.month_n
    asof left join (select * from counts where measure = 'multi_partner') as p on p.month_n <= m.month_n
)

select
    {{ month_date('month_n') }} as month,
    users,
    multi_area_users,
    multi_partner_users,
    round(100.0 * multi_area_users / nullif(users, 0), 2) as multi_area_pct,
    round(100.0 * multi_partner_users / nullif(users, 0), 2) as multi_partner_pct
from per_month
