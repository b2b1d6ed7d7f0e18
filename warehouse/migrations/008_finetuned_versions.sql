-- Fine-tuned models as registered versions: `<register.name>-<task>`, each version naming the version
-- of the pretrained model it was fine-tuned from. Pretrained versions have none.
ALTER TABLE model_versions ADD COLUMN parent_name VARCHAR;
ALTER TABLE model_versions ADD COLUMN parent_version INTEGER;
