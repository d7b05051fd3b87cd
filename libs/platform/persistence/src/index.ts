export * from './data-source';
export * from './checkpoint.entity';
export * from './projection';
