{#- The scorecard as one long table: every KPI of seeds/kpi_definitions.csv in every month. value is NULL
    and status 'not_delivered' for a KPI without a feed (never 0), NULL and 'no_data' when the month has no
    data for it. persons: whom a pct/index/days value is computed over (for T3 medians: the measurements). -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months() }}),

months as (
    select {{ month_date('m.month_n') }} as month
    from (select unnest(range(b.first_n, b.last_n + 1)) as month_n from bounds as b) as m
),

kpi_values as (
    select month,
           case group_value when 'all' then 'reach' when '0-6' then 'reach_0_6' when '7-17' then 'reach_7_17'
                when '18-64' then 'reach_18_64' when '65+' then 'reach_65plus' when '75+' then 'reach_75plus' end
               as kpi_id,
           reach_pct as value, residents as persons, null::integer as producers, null::double as top_two_share
    from {{ ref('kpi_reach') }}
    where breakdown = 'age_group'
    union all
    select month, 'multi_area_users', multi_area_pct, users, null, null from {{ ref('kpi_integration') }}
    union all
    select month, 'multi_partner_users', multi_partner_pct, users, null, null from {{ ref('kpi_integration') }}
    union all
    select month, 't3_median_' || professional_group, t3_median, measurements, null, null
    from {{ ref('kpi_access_t3') }}
    where partner = 'all'
    union all
    select month, 'wait_within_7d', within_7d_pct, persons, null, null
    from {{ ref('kpi_waiting') }} where professional_group = 'all'
    union all
    select month, 'wait_within_14d', within_14d_pct, persons, null, null
    from {{ ref('kpi_waiting') }} where professional_group = 'all'
    union all
    select month,
           measure || '_' || professional_group || case when age_group = '65+' then '_65plus' else '' end,
           value, eligible_persons, null, null
    from {{ ref('kpi_continuity') }}
    unpivot (value for measure in (coc_mean as 'coc', upc_mean as 'upc', secon_mean as 'secon'))
    union all
    select month, 'digital_share', digital_share, persons, null, null
    from {{ ref('kpi_contacts') }} where service_area = 'all'
    union all
    select month, 'no_show_rate', no_show_rate, persons, null, null
    from {{ ref('kpi_contacts') }} where service_area = 'all'
    union all
    select month,
           case when service_area = 'youth_services' and measure = 'visits' then 'youth_visits'
                when service_area = 'library' and measure = 'visits' then 'library_visits'
                when service_area = 'ngo_activity' and measure = 'participants' then 'ngo_participants' end,
           value, null, null, null
    from {{ ref('kpi_activity') }}
    union all
    select month, 'actual_cost', actual_cost_eur::double, null, producers, top_two_share
    from {{ ref('kpi_cost') }} where service_area = 'all'
    union all
    select month, 'cost_per_resident', cost_per_resident, null, producers, top_two_share
    from {{ ref('kpi_cost') }} where service_area = 'all'
)

select
    m.month,
    d.kpi_id,
    d.result_area,
    d.unit,
    case when d.delivered then v.value end as value,
    case when d.delivered and d.unit not in ('count', 'eur', 'eur_per_resident') then v.persons end::bigint
        as persons,
    case when not d.delivered then 'not_delivered' when v.value is null then 'no_data' else 'delivered' end
        as status,
    case when d.delivered and d.unit in ('eur', 'eur_per_resident') then v.producers end::integer as producers,
    case when d.delivered and d.unit in ('eur', 'eur_per_resident') then v.top_two_share end::double
        as top_two_share
from months as m
cross join {{ ref('kpi_definitions') }} as d
left join kpi_values as v on v.month = m.month and v.kpi_id = d.kpi_id
