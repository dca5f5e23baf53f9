{#- Contacts per month and service area ('all' = every area): completed, no-shows and the digital ones
    (contact modes flagged is_digital in seeds/contact_modes.csv: phone, video, electronic). The digital
    share counts only completed contacts with a known contact mode. -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months() }}),

contacts as (
    select c.month_n, c.service_area, c.person_key, c.status, m.is_digital
    from {{ ref('stg_contacts') }} as c
    left join {{ ref('contact_modes') }} as m on m.contact_mode = c.contact_mode
    cross join bounds as b
    where c.month_n between b.first_n and b.last_n
)

select
    {{ month_date('month_n') }} as month,
    coalesce(service_area, 'all') as service_area,
    count(*) filter (where status = 'completed') as completed_contacts,
    count(*) filter (where status = 'no_show') as no_show_contacts,
    count(*) filter (where status = 'completed' and is_digital is not null) as mode_known_contacts,
    count(*) filter (where status = 'completed' and is_digital) as digital_contacts,
    count(distinct person_key) as persons,
    round(100.0 * count(*) filter (where status = 'completed' and is_digital)
          / nullif(count(*) filter (where status = 'completed' and is_digital is not null), 0), 2) as digital_share,
    round(100.0 * count(*) filter (where status = 'no_show') / count(*), 2) as no_show_rate
from contacts
group by grouping sets ((month_n), (month_n, service_area))
