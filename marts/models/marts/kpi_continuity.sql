{#- Continuity of care: mean COC, UPC and SECON per month and professional group over the eligible persons
    (int_continuity_windows: sums per interval of months), for everyone and for persons aged 65 or over. -#}
{{ config(**monthly_incremental_config()) }}

with months as (
    select *, unnest(range(valid_from_n, valid_to_n + 1)) as month_n
    from {{ ref('int_continuity_windows') }}
)

select
    {{ month_date('w.month_n') }} as month,
    w.professional_group,
    g.age_group,
    sum(w.persons)::bigint as eligible_persons,
    round(sum(w.coc_sum) / sum(w.persons), 4) as coc_mean,
    round(sum(w.upc_sum) / sum(w.persons), 4) as upc_mean,
    round(sum(w.secon_sum) / sum(w.persons), 4) as secon_mean
from months as w
cross join (select unnest(['all', '65+']) as age_group) as g
where g.age_group = 'all' or w.is_65plus
group by all
