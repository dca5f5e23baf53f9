-- Residents per statistics year, postal code, five-year band and sex, as delivered (renames only).
select
    year::integer as year,
    postal_code,
    age_band,
    sex,
    residents::bigint as residents
from {{ source('warehouse', 'population') }}
