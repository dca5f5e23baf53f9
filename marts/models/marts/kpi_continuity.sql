{#- Continuity of care: mean COC, UPC and SECON per month and professional group over the eligible persons
    (int_continuity_windows), for everyone and for persons aged 65 or over. -#}
{{ config(**monthly_incremental_config()) }}

select
    {{ month_date('w.month_n') }} as month,
    w.professional_group,
    g.age_group,
    count(*) as eligible_persons,
    round(avg(w.coc), 4) as coc_mean,
    round(avg(w.upc), 4) as upc_mean,
    round(avg(w.secon), 4) as secon_mean
from {{ ref('int_continuity_windows') }} as w
cross join (select unnest(['all', '65+']) as age_group) as g
where g.age_group = 'all' or w.is_65plus
group by all
